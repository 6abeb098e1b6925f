//! Cycles between types: a cycle of required properties is refused (no finite value has it);
//! a field closing a cycle of directly contained types is boxed. Both search only strongly
//! connected components, so long chains of types cost linear time.

use super::Lowerer;
use crate::ir::*;
use std::collections::BTreeSet;

impl Lowerer<'_> {
    /// A cycle of required, non-nullable properties describes a value that cannot exist.
    pub(super) fn check_required_cycles(&mut self, api: &Api) {
        let edges = |id: usize| -> Vec<(usize, String)> {
            match &api.types[id].kind {
                TypeKind::Struct { fields, .. } => fields
                    .iter()
                    .filter_map(|f| match &f.ty {
                        Ty::Named(t) if f.required => Some((t.0, f.api_name.clone())),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            }
        };
        // A path back to `start` stays inside its strongly connected component: only types on a
        // cycle are searched from, and only through their component (linear for a long chain).
        let all_edges: Vec<Vec<usize>> = (0..api.types.len()).map(|id| edges(id).into_iter().map(|(t, _)| t).collect()).collect();
        let component = strongly_connected(&all_edges);
        let mut sizes = vec![0usize; api.types.len()];
        for &c in &component {
            sizes[c] += 1;
        }
        let mut reported = BTreeSet::new();
        let mut members_reported = BTreeSet::new();
        for start in 0..api.types.len() {
            let on_cycle = all_edges[start].contains(&start) || sizes[component[start]] > 1;
            if !on_cycle || members_reported.contains(&start) {
                continue;
            }
            // Depth-first search for a path back to `start`.
            let mut stack = vec![(start, Vec::<(usize, String)>::new())];
            let mut seen = BTreeSet::new();
            while let Some((at, path)) = stack.pop() {
                for (next, field) in edges(at) {
                    if component[next] != component[start] {
                        continue;
                    }
                    let mut path = path.clone();
                    path.push((at, field));
                    if next == start {
                        let members: BTreeSet<usize> = path.iter().map(|(t, _)| *t).collect();
                        if reported.insert(members.clone()) {
                            members_reported.extend(members);
                            let (t, f) = &path[0];
                            let span = self.field_spans.get(&(*t, f.clone())).copied().unwrap_or(api.types[*t].span);
                            let chain: Vec<String> = path.iter().map(|(t, f)| format!("{}.{f}", api.types[*t].name)).collect();
                            self.error(
                                "ivoagen::lower::required-cycle",
                                span,
                                format!("required properties form a cycle ({} → {}), so no finite value is valid", chain.join(" → "), api.types[start].name),
                            )
                            .set_label("required here")
                            .set_help("make one property of the cycle optional or nullable");
                        }
                    } else if seen.insert(next) {
                        stack.push((next, path));
                    }
                }
            }
        }
    }
}

/// The strongly connected component of each node of a graph (Tarjan's algorithm, without
/// recursion, so a chain of thousands of types cannot overflow the stack).
fn strongly_connected(edges: &[Vec<usize>]) -> Vec<usize> {
    const UNSEEN: usize = usize::MAX;
    let n = edges.len();
    let (mut index, mut low, mut component) = (vec![UNSEEN; n], vec![0; n], vec![UNSEEN; n]);
    let (mut on_stack, mut stack) = (vec![false; n], Vec::new());
    let (mut next_index, mut next_component) = (0, 0);
    for root in 0..n {
        if index[root] != UNSEEN {
            continue;
        }
        // (node, how many of its edges have been followed)
        let mut work = vec![(root, 0)];
        while let Some(&mut (at, ref mut followed)) = work.last_mut() {
            if *followed == 0 && index[at] == UNSEEN {
                index[at] = next_index;
                low[at] = next_index;
                next_index += 1;
                stack.push(at);
                on_stack[at] = true;
            }
            if let Some(&next) = edges[at].get(*followed) {
                *followed += 1;
                if index[next] == UNSEEN {
                    work.push((next, 0));
                } else if on_stack[next] {
                    low[at] = low[at].min(index[next]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[at]);
            }
            if low[at] == index[at] {
                while let Some(member) = stack.pop() {
                    on_stack[member] = false;
                    component[member] = next_component;
                    if member == at {
                        break;
                    }
                }
                next_component += 1;
            }
        }
    }
    component
}

/// Boxes every field that closes a cycle of directly contained types, so every type has a size.
pub(super) fn box_cycles(api: &mut Api) {
    let direct = |ty: &Ty| -> Option<usize> {
        match ty.unwrap_option() {
            Ty::Named(id) => Some(id.0),
            _ => None,
        }
    };
    let contains = |api: &Api, id: usize| -> Vec<usize> {
        match &api.types[id].kind {
            TypeKind::Struct { fields, .. } => fields.iter().filter(|f| !f.boxed).filter_map(|f| direct(&f.ty)).collect(),
            TypeKind::Union { variants, .. } => variants.iter().filter_map(|v| direct(&v.ty)).collect(),
            TypeKind::Tuple(tys) => tys.iter().filter_map(direct).collect(),
            TypeKind::Newtype(ty) => direct(ty).into_iter().collect(),
            TypeKind::StringEnum { .. } => Vec::new(),
        }
    };
    let reaches = |api: &Api, from: usize, to: usize| -> bool {
        let mut stack = vec![from];
        let mut seen = BTreeSet::new();
        while let Some(at) = stack.pop() {
            if at == to {
                return true;
            }
            if seen.insert(at) {
                stack.extend(contains(api, at));
            }
        }
        false
    };
    // Boxing only removes edges, so a field whose type is in another strongly connected component
    // of the graph as it is now can never close a cycle: only fields inside one are searched.
    let initial: Vec<Vec<usize>> = (0..api.types.len()).map(|id| contains(api, id)).collect();
    let component = strongly_connected(&initial);
    for id in 0..api.types.len() {
        let field_count = match &api.types[id].kind {
            TypeKind::Struct { fields, .. } => fields.len(),
            _ => 0,
        };
        for i in 0..field_count {
            let target = match &api.types[id].kind {
                TypeKind::Struct { fields, .. } => direct(&fields[i].ty),
                _ => None,
            };
            if let Some(target) = target {
                if component[target] == component[id] && reaches(api, target, id) {
                    if let TypeKind::Struct { fields, .. } = &mut api.types[id].kind {
                        fields[i].boxed = true;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::strongly_connected;
    use crate::ir::*;
    use crate::lower::{codes, lowered};

    fn lower_schemas(schemas: &str) -> (Option<Api>, Vec<crate::diagnostics::Diagnostic>) {
        lowered(&format!("openapi: 3.1.0\ninfo: {{title: t, version: '1'}}\npaths: {{}}\ncomponents:\n  schemas:\n{schemas}"))
    }

    #[test]
    fn components_are_found_without_recursion() {
        // 0 → 1 → 2 → 0 is one component; 3 → 3 another; 4 alone.
        let component = strongly_connected(&[vec![1], vec![2], vec![0, 3], vec![3], vec![]]);
        assert!(component[0] == component[1] && component[1] == component[2]);
        assert!(component[3] != component[0] && component[4] != component[3] && component[4] != component[0]);
        let long: Vec<Vec<usize>> = (0..100_000).map(|i| vec![(i + 1) % 100_000]).collect();
        assert!(strongly_connected(&long).iter().all(|&c| c == 0), "one cycle of 100 000 types");
    }

    #[test]
    fn the_field_that_closes_a_cycle_is_boxed() {
        let (api, diagnostics) = lower_schemas(
            "    Node: { type: object, properties: { next: { $ref: '#/components/schemas/Node' }, items: { type: array, items: { $ref: '#/components/schemas/Node' } } } }\n",
        );
        let api = api.unwrap_or_else(|| panic!("{diagnostics:?}"));
        let TypeKind::Struct { fields, .. } = &api.types[0].kind else { panic!("a struct") };
        let boxed: Vec<(&str, bool)> = fields.iter().map(|f| (f.name.as_str(), f.boxed)).collect();
        assert_eq!(boxed, [("next", true), ("items", false)], "a `Vec` already has a size");
    }

    #[test]
    fn required_properties_in_a_cycle_are_refused_once() {
        let (api, diagnostics) = lower_schemas(
            "    A: { type: object, required: [b], properties: { b: { $ref: '#/components/schemas/B' } } }\n    B: { type: object, required: [a], properties: { a: { $ref: '#/components/schemas/A' } } }\n",
        );
        assert!(api.is_none());
        assert_eq!(codes(&diagnostics), ["ivoagen::lower::required-cycle"]);
        assert!(diagnostics[0].message.contains("A.b → B.a → A"), "{}", diagnostics[0].message);
    }
}
