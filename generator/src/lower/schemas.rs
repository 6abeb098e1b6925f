//! Schemas → types: references followed, named types in the arena, constraints Rust cannot
//! express kept beside the type.

use super::{Lowerer, MAX_SCHEMA_NESTING, doc_text};
use crate::ir::*;
use crate::load::{Node, Target, Value, edit_distance};
use crate::naming::{Renamed, field_name, type_name, unique};
use crate::source::{FileId, Span};
use std::collections::BTreeSet;

const TYPES: &[&str] = &["string", "integer", "number", "boolean", "array", "object", "null"];

/// What the parts of an object schema (its own properties, those of its `allOf`) add up to.
#[derive(Default)]
struct Object {
    fields: Vec<Field>,
    /// The names of the required properties.
    required: BTreeSet<String>,
    /// `additionalProperties` with a schema.
    additional: Option<Ty>,
    /// `additionalProperties: false`.
    deny_unknown: bool,
}

/// The `type` keyword: the declared types, and whether `null` is among them.
struct Types {
    names: Vec<String>,
    nullable: bool,
}

impl Lowerer<'_> {
    fn types_of(&mut self, node: &Node) -> Types {
        let mut names = Vec::new();
        let mut nullable = node.get("nullable").and_then(Node::as_bool).unwrap_or(false);
        let declared: Vec<&Node> = match node.get("type") {
            Some(n) if n.as_str().is_some() => vec![n],
            Some(n) => n.items().iter().collect(),
            None => Vec::new(),
        };
        for n in declared {
            match n.as_str() {
                Some("null") => nullable = true,
                Some(t) if TYPES.contains(&t) => names.push(t.to_owned()),
                other => {
                    let shown = other.map_or_else(|| format!("{:?}", n.to_json()), str::to_owned);
                    let best = TYPES.iter().min_by_key(|t| edit_distance(t, &shown)).copied().unwrap_or("string");
                    self.error("ivoagen::lower::unknown-type", n.span, format!("unknown type `{shown}`"))
                        .set_help(format!("did you mean `{best}`? JSON Schema types are: {}", TYPES.join(", ")));
                }
            }
        }
        if node.get("const").is_some_and(|c| c.value == Value::Null) {
            nullable = true;
        }
        Types { names, nullable }
    }

    /// Whether a schema (after references) becomes a named type.
    pub(super) fn is_named_kind(&self, file: FileId, node: &Node) -> bool {
        let (_, node, _) = self.doc.resolve(file, node);
        if node.get("properties").is_some() || node.get("prefixItems").is_some() {
            return true;
        }
        if let Some(all) = node.get("allOf") {
            return all.items().len() > 1 || node.get("properties").is_some();
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(items) = node.get(key) {
                let non_null = items.items().iter().filter(|i| !is_null_schema(i)).count();
                return non_null > 1;
            }
        }
        if let Some(values) = node.get("enum") {
            return !values.items().is_empty() && values.items().iter().all(|v| v.as_str().is_some() || v.value == Value::Null);
        }
        false
    }

    /// Lowers a schema to a type reference and the constraints Rust cannot express.
    ///
    /// A chain of references (`A: {$ref: B}`, `B: {$ref: C}`, …) is walked in a loop, however long;
    /// schemas nested in schemas (through properties, items, named types) recurse, at most
    /// [`MAX_SCHEMA_NESTING`] deep.
    pub(super) fn schema(&mut self, file: FileId, node: &Node, hint: &str) -> (Ty, Constraints) {
        if self.at_nesting_limit(node.span) {
            return (Ty::Json, Constraints::default());
        }
        self.nesting += 1;
        let lowered = self.schema_through_refs(file, node, hint);
        self.nesting -= 1;
        lowered
    }

    /// Whether schemas nest [`MAX_SCHEMA_NESTING`] deep here: reported, at `span`, the first time.
    fn at_nesting_limit(&mut self, span: Span) -> bool {
        if self.nesting < MAX_SCHEMA_NESTING {
            return false;
        }
        if !self.too_deep {
            self.too_deep = true;
            self.error("ivoagen::lower::too-deep", span, format!("schemas nest more than {MAX_SCHEMA_NESTING} deep here"))
                .set_label("too deep")
                .set_help("a schema that contains a schema that contains a schema … this deep is refused; flatten the chain");
        }
        true
    }

    fn schema_through_refs(&mut self, file: FileId, node: &Node, hint: &str) -> (Ty, Constraints) {
        // The references followed so far, each with its target, the node it leads to and whether
        // it was nullable (OpenAPI 3.0 style `nullable` next to a `$ref`).
        let mut hops: Vec<(Target, &Node, bool)> = Vec::new();
        let (mut file, mut node) = (file, node);
        let mut lowered = loop {
            let Some(reference) = node.reference() else { break self.schema_value(file, node, hint) };
            let wrap = |ty: Ty| if node.get("nullable").and_then(Node::as_bool).unwrap_or(false) { Ty::Option(Box::new(ty)) } else { ty };
            let Some(target) = self.doc.target(file, reference) else { break (Ty::Json, Constraints::default()) };
            let Some(resolved) = self.doc.node(&target) else { break (Ty::Json, Constraints::default()) };
            if let Some(&id) = self.by_target.get(&target) {
                break (wrap(Ty::Named(id)), Constraints::default());
            }
            if self.is_named_kind(target.file, resolved) {
                let name = target.pointer.last().cloned().unwrap_or_else(|| hint.to_owned());
                let id = self.named_type(target.file, resolved, Some(target), &name);
                break (wrap(Ty::Named(id)), Constraints::default());
            }
            if self.inline_stack.contains(&target) {
                // A schema that contains itself only through arrays or maps: give it a name.
                let name = target.pointer.last().cloned().unwrap_or_else(|| hint.to_owned());
                let id = self.reserve(&name, &target.display(self.doc), resolved.span);
                self.by_target.insert(target.clone(), id);
                break (wrap(Ty::Named(id)), Constraints::default());
            }
            self.inline_stack.insert(target.clone());
            let nullable = node.get("nullable").and_then(Node::as_bool).unwrap_or(false);
            hops.push((target.clone(), resolved, nullable));
            file = target.file;
            node = resolved;
        };
        // Back along the chain, innermost first.
        while let Some((target, resolved, nullable)) = hops.pop() {
            self.inline_stack.remove(&target);
            let wrap = |ty: Ty| if nullable { Ty::Option(Box::new(ty)) } else { ty };
            // A self-reference found on the way was given a name: that name is now this schema.
            lowered = if let Some(&id) = self.by_target.get(&target) {
                if self.types[id.0].is_none() {
                    self.fill(id, resolved, TypeKind::Newtype(lowered.0));
                }
                (wrap(Ty::Named(id)), Constraints::default())
            } else {
                (wrap(lowered.0), lowered.1)
            };
        }
        lowered
    }

    /// [`Self::schema`] of a schema that is not a reference.
    fn schema_value(&mut self, file: FileId, node: &Node, hint: &str) -> (Ty, Constraints) {
        if let Some(kind) = self.xtype(node) {
            let ty = Ty::Dali(kind);
            return (if self.types_of(node).nullable { Ty::Option(Box::new(ty)) } else { ty }, Constraints::default());
        }
        if self.is_named_kind(file, node) {
            let nullable = self.types_of(node).nullable || has_null_alternative(node);
            let id = self.named_type(file, node, None, hint);
            let ty = Ty::Named(id);
            return (if nullable { Ty::Option(Box::new(ty)) } else { ty }, Constraints::default());
        }
        let types = self.types_of(node);
        let mut constraints = self.constraints(node);
        let ty = self.unnamed(file, node, &types, hint, &mut constraints);
        (if types.nullable && ty != Ty::Json { Ty::Option(Box::new(ty)) } else { ty }, constraints)
    }

    fn unnamed(&mut self, file: FileId, node: &Node, types: &Types, hint: &str, constraints: &mut Constraints) -> Ty {
        // `allOf: [X]`, `oneOf: [X, null]`: a single alternative is that alternative.
        for key in ["allOf", "oneOf", "anyOf"] {
            if let Some(items) = node.get(key) {
                let non_null: Vec<&Node> = items.items().iter().filter(|i| !is_null_schema(i)).collect();
                if let [only] = non_null.as_slice() {
                    let (ty, inner) = self.schema(file, only, hint);
                    merge_constraints(constraints, inner);
                    return if key != "allOf" && non_null.len() < items.items().len() { Ty::Option(Box::new(ty)) } else { ty };
                }
            }
        }
        let kind = match types.names.as_slice() {
            [] => infer_type(node),
            [one] => Some(one.as_str()),
            _ => {
                self.warn("ivoagen::lower::multi-type", node.span, format!("a value of several types ({}) is kept as JSON", types.names.join(", ")))
                    .set_help("the Rust field is a `serde_json::Value`");
                return Ty::Json;
            }
        };
        let format = node.get("format").and_then(Node::as_str);
        match kind {
            Some("boolean") => Ty::Bool,
            Some("integer") => match format {
                Some("int32") => Ty::I32,
                _ => Ty::I64,
            },
            Some("number") => match format {
                Some("float") => Ty::F32,
                Some("int32") => Ty::I32,
                Some("int64") => Ty::I64,
                _ => Ty::F64,
            },
            Some("string") => match format {
                Some("date") => Ty::Date,
                Some("date-time") => Ty::DateTime,
                Some("uuid") => Ty::Uuid,
                Some("binary") => Ty::Binary,
                _ => Ty::String,
            },
            Some("array") => {
                let (item, item_constraints) = match node.get("items") {
                    Some(items) if items.is_map() => self.schema(file, items, &format!("{hint}Item")),
                    _ => (Ty::Json, Constraints::default()),
                };
                if !item_constraints.is_empty() {
                    constraints.items = Some(Box::new(item_constraints));
                }
                Ty::Vec(Box::new(item))
            }
            Some("object") => match node.get("additionalProperties") {
                Some(schema) if schema.is_map() => {
                    let (value, _) = self.schema(file, schema, &format!("{hint}Value"));
                    Ty::Map(Box::new(value))
                }
                _ => Ty::Map(Box::new(Ty::Json)),
            },
            _ => Ty::Json,
        }
    }

    fn constraints(&mut self, node: &Node) -> Constraints {
        let num = |k: &str| node.get(k).and_then(Node::as_f64);
        let count = |k: &str| node.get(k).and_then(Node::as_u64);
        let mut c = Constraints::default();
        // 3.0 writes `exclusiveMinimum: true` next to `minimum`; 3.1 gives the bound itself.
        let flag = |k: &str| node.get(k).and_then(Node::as_bool).unwrap_or(false);
        c.minimum = match (num("minimum"), num("exclusiveMinimum")) {
            (Some(m), Some(e)) => Some(if e >= m { (e, true) } else { (m, false) }),
            (Some(m), None) => Some((m, flag("exclusiveMinimum"))),
            (None, Some(e)) => Some((e, true)),
            (None, None) => None,
        };
        c.maximum = match (num("maximum"), num("exclusiveMaximum")) {
            (Some(m), Some(e)) => Some(if e <= m { (e, true) } else { (m, false) }),
            (Some(m), None) => Some((m, flag("exclusiveMaximum"))),
            (None, Some(e)) => Some((e, true)),
            (None, None) => None,
        };
        c.multiple_of = num("multipleOf").filter(|f| *f > 0.0);
        c.min_length = count("minLength").filter(|&n| n > 0);
        c.max_length = count("maxLength");
        c.min_items = count("minItems").filter(|&n| n > 0);
        c.max_items = count("maxItems");
        c.unique_items = node.get("uniqueItems").and_then(Node::as_bool).unwrap_or(false);
        if count("minProperties").is_some() || count("maxProperties").is_some() {
            c.properties = Some((count("minProperties"), count("maxProperties")));
        }
        if let Some(pattern) = node.get("pattern") {
            match pattern.as_str().map(regex::Regex::new) {
                Some(Ok(_)) => c.pattern = pattern.as_str().map(str::to_owned),
                Some(Err(e)) => {
                    let first = e.to_string().lines().last().unwrap_or_default().trim().to_owned();
                    self.warn("ivoagen::lower::pattern", pattern.span, format!("this pattern cannot be checked: {first}"))
                        .set_label("not enforced")
                        .set_help("the `regex` crate has no look-around or back-references; the value is accepted without this check");
                }
                None => {}
            }
        }
        if let Some(value) = node.get("const").filter(|c| c.value != Value::Null) {
            c.constant = Some(value.to_json());
        }
        if let Some(values) = node.get("enum") {
            let all_strings = values.items().iter().all(|v| v.as_str().is_some() || v.value == Value::Null);
            if !all_strings || !values.items().iter().any(|v| v.as_str().is_some()) {
                let allowed: Vec<_> = values.items().iter().filter(|v| v.value != Value::Null).map(Node::to_json).collect();
                if !allowed.is_empty() {
                    c.one_of = Some(allowed);
                }
            }
        }
        c
    }

    fn reserve(&mut self, hint: &str, api_name: &str, span: Span) -> TypeId {
        let (name, renamed) = self.namer.model(hint);
        if let Some(Renamed { wanted, taken, by }) = renamed {
            let why = if taken == wanted { format!("`{wanted}` is {by}") } else { format!("`{taken}` is {by}") };
            self.warn("ivoagen::lower::type-name", span, format!("schema `{hint}` is the Rust type `{name}`: {why}"))
                .set_label(format!("renamed to `{name}`"))
                .set_help("rename the schema to choose its Rust name");
        }
        self.types.push(None);
        let id = TypeId(self.types.len() - 1);
        self.pending_names.insert(id, (name, api_name.to_owned(), span));
        id
    }

    fn fill(&mut self, id: TypeId, node: &Node, kind: TypeKind) {
        let (name, api_name, span) = self.pending_names.remove(&id).expect("reserved before being filled");
        self.types[id.0] = Some(TypeDef { name, api_name, doc: doc_text(node), kind, span, xml: node.get("xml").map(xml_object), reachable: false });
    }

    pub(super) fn named_type(&mut self, file: FileId, node: &Node, target: Option<Target>, hint: &str) -> TypeId {
        if let Some(id) = target.as_ref().and_then(|t| self.by_target.get(t)) {
            return *id;
        }
        let api_name = target.as_ref().map_or_else(|| hint.to_owned(), |t| t.display(self.doc));
        let id = self.reserve(hint, &api_name, node.span);
        if let Some(target) = target {
            self.by_target.insert(target, id);
        }
        let name = self.pending_names[&id].0.clone();
        let kind = self.named_kind(file, node, &name, id);
        self.fill(id, node, kind);
        id
    }

    fn named_kind(&mut self, file: FileId, node: &Node, name: &str, id: TypeId) -> TypeKind {
        if let Some(values) = node.get("enum") {
            if node.get("properties").is_none() {
                let mut taken = BTreeSet::new();
                let variants = values
                    .items()
                    .iter()
                    .filter_map(Node::as_str)
                    .map(|v| Variant { name: unique(type_name(v), &mut taken), api_name: v.to_owned() })
                    .collect();
                return TypeKind::StringEnum { variants };
            }
        }
        if let Some(items) = node.get("prefixItems") {
            let tys = items
                .items()
                .iter()
                .enumerate()
                .map(|(i, item)| self.schema(file, item, &format!("{name}{i}")).0)
                .collect();
            return TypeKind::Tuple(tys);
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(items) = node.get(key) {
                if node.get("properties").is_none() {
                    return self.union(file, node, items, name);
                }
            }
        }
        // An object, possibly merged from `allOf`.
        let mut object = Object::default();
        self.collect_object(file, node, name, id, &mut object, &mut Vec::new());
        let Object { mut fields, required, additional, deny_unknown } = object;
        for field in &mut fields {
            field.required = required.contains(&field.api_name);
            if !field.required && !matches!(field.ty, Ty::Option(_)) {
                field.ty = Ty::Option(Box::new(std::mem::replace(&mut field.ty, Ty::Json)));
            }
        }
        TypeKind::Struct { fields, additional, deny_unknown }
    }

    /// Adds the properties of `node` and of its `allOf` parts (`within`: the parts being merged,
    /// outermost first) to `object`, the struct `id` named `name`.
    fn collect_object(&mut self, file: FileId, node: &Node, name: &str, id: TypeId, object: &mut Object, within: &mut Vec<Span>) {
        let (file, node, _) = self.doc.resolve(file, node);
        within.push(node.span);
        for r in node.get("required").map(Node::items).unwrap_or_default() {
            if let Some(r) = r.as_str() {
                object.required.insert(r.to_owned());
            }
        }
        let mut taken: BTreeSet<String> = object.fields.iter().map(|f| f.name.clone()).collect();
        for (key, prop) in node.get("properties").map(Node::entries).unwrap_or_default() {
            if object.fields.iter().any(|f| f.api_name == key.name) {
                continue;
            }
            let (ty, constraints) = self.schema(file, prop, &format!("{name}{}", type_name(&key.name)));
            let (_, resolved, _) = self.doc.resolve(file, prop);
            let doc = doc_text(prop).or_else(|| doc_text(resolved));
            self.field_spans.insert((id.0, key.name.clone()), key.span);
            object.fields.push(Field {
                name: unique(field_name(&key.name), &mut taken),
                api_name: key.name.clone(),
                ty,
                required: false,
                boxed: false,
                constraints,
                doc,
                xml: prop.get("xml").map(xml_object).unwrap_or_default(),
            });
        }
        match node.get("additionalProperties") {
            Some(n) if n.as_bool() == Some(false) => object.deny_unknown = true,
            Some(n) if n.is_map() => {
                let (ty, _) = self.schema(file, n, &format!("{name}Value"));
                object.additional = Some(ty);
            }
            _ => {}
        }
        for part in node.get("allOf").map(Node::items).unwrap_or_default() {
            let (pfile, pnode, _) = self.doc.resolve(file, part);
            if pnode.get("oneOf").is_some() || pnode.get("anyOf").is_some() {
                self.warn("ivoagen::lower::allof-union", part.span, "a union inside `allOf` is not merged")
                    .set_help("its properties are not part of the generated struct");
                continue;
            }
            // Nested `allOf`s recurse too: they count toward the nesting limit.
            if within.contains(&pnode.span) {
                self.error("ivoagen::lower::allof-cycle", part.span, "`allOf` includes itself")
                    .set_label("this part leads back to the schema")
                    .set_help("a schema cannot be made of itself; remove this part");
                continue;
            }
            if self.at_nesting_limit(part.span) {
                continue;
            }
            self.nesting += 1;
            self.collect_object(pfile, pnode, name, id, object, within);
            self.nesting -= 1;
        }
        within.pop();
    }

    fn union(&mut self, file: FileId, node: &Node, items: &Node, name: &str) -> TypeKind {
        let discriminator = node.get("discriminator");
        let property = discriminator.and_then(|d| d.get("propertyName")).and_then(Node::as_str).map(str::to_owned);
        let mapping: Vec<(String, Option<Target>)> = discriminator
            .and_then(|d| d.get("mapping"))
            .map(|m| m.entries().iter().map(|(k, v)| (k.name.clone(), v.as_str().and_then(|r| self.mapping_target(file, r)))).collect())
            .unwrap_or_default();
        let mut taken = BTreeSet::new();
        let mut variants = Vec::new();
        for (i, item) in items.items().iter().enumerate() {
            if is_null_schema(item) {
                continue;
            }
            let target = item.reference().and_then(|r| self.doc.target(file, r));
            let (ty, _) = self.schema(file, item, &format!("{name}Variant{i}"));
            let base = match (&target, &ty) {
                (Some(t), _) => type_name(t.pointer.last().map_or("Variant", String::as_str)),
                (None, Ty::Named(id)) => self.type_name_of(*id),
                (None, other) => ty_word(other).to_owned(),
            };
            let tag = property.as_ref().and_then(|_| {
                let mapped = mapping.iter().find(|(_, t)| t.is_some() && *t == target).map(|(k, _)| k.clone());
                mapped.or_else(|| target.as_ref().and_then(|t| t.pointer.last().cloned()))
            });
            variants.push(UnionVariant { name: unique(base, &mut taken), ty, tag });
        }
        let discriminator = match property {
            Some(p) if variants.iter().all(|v| v.tag.is_some()) => Some(p),
            Some(_) => {
                let span = node.key_span("discriminator").unwrap_or(node.span);
                self.warn("ivoagen::lower::discriminator", span, "the discriminator cannot name every alternative")
                    .set_help("alternatives are told apart by trying each in turn (an untagged enum)");
                None
            }
            None => None,
        };
        TypeKind::Union { variants, discriminator }
    }

    fn mapping_target(&self, file: FileId, value: &str) -> Option<Target> {
        if value.contains('#') || value.contains('/') {
            self.doc.target(file, value)
        } else {
            Some(Target { file: FileId::ROOT, pointer: vec!["components".into(), "schemas".into(), value.to_owned()] })
        }
    }

    fn type_name_of(&self, id: TypeId) -> String {
        match &self.types[id.0] {
            Some(def) => def.name.clone(),
            None => self.pending_names.get(&id).map(|p| p.0.clone()).unwrap_or_default(),
        }
    }
}

/// Reads an OpenAPI `xml` object.
fn xml_object(node: &Node) -> Xml {
    let text = |k: &str| node.get(k).and_then(Node::as_str).map(str::to_owned);
    let flag = |k: &str| node.get(k).and_then(Node::as_bool).unwrap_or(false);
    Xml {
        name: text("name"),
        namespace: text("namespace"),
        prefix: text("prefix"),
        attribute: flag("attribute"),
        wrapped: flag("wrapped"),
        text: flag("x-ivoa-text"),
    }
}

fn is_null_schema(node: &Node) -> bool {
    node.get("type").and_then(Node::as_str) == Some("null")
}

fn has_null_alternative(node: &Node) -> bool {
    ["oneOf", "anyOf"].iter().any(|k| node.get(k).is_some_and(|items| items.items().iter().any(is_null_schema)))
}

fn infer_type(node: &Node) -> Option<&'static str> {
    if node.get("properties").is_some() || node.get("additionalProperties").is_some() {
        return Some("object");
    }
    if node.get("items").is_some() {
        return Some("array");
    }
    let value = node.get("const").or_else(|| node.get("enum").and_then(|e| e.items().first()))?;
    match value.value {
        Value::Str(_) => Some("string"),
        Value::Int(_) => Some("integer"),
        Value::Float(_) => Some("number"),
        Value::Bool(_) => Some("boolean"),
        _ => None,
    }
}

fn merge_constraints(into: &mut Constraints, from: Constraints) {
    let defaults = Constraints::default();
    macro_rules! take {
        ($($f:ident),*) => {$( if into.$f == defaults.$f { into.$f = from.$f; } )*};
    }
    take!(minimum, maximum, multiple_of, min_length, max_length, pattern, min_items, max_items, unique_items, properties, constant, one_of, items);
}

/// Whether a value of this type travels as one parameter string.
pub(super) fn is_scalar(ty: &Ty, types: &[Option<TypeDef>]) -> bool {
    match ty {
        Ty::Bool | Ty::I32 | Ty::I64 | Ty::F32 | Ty::F64 | Ty::String | Ty::Date | Ty::DateTime | Ty::Uuid | Ty::Dali(_) => true,
        Ty::Named(id) => matches!(types.get(id.0).and_then(Option::as_ref).map(|t| &t.kind), Some(TypeKind::StringEnum { .. })),
        _ => false,
    }
}

fn ty_word(ty: &Ty) -> &'static str {
    match ty {
        Ty::Bool => "Boolean",
        Ty::I32 | Ty::I64 => "Integer",
        Ty::F32 | Ty::F64 => "Number",
        Ty::String | Ty::Date | Ty::DateTime | Ty::Uuid | Ty::Dali(_) => "String",
        Ty::Binary | Ty::Body => "Binary",
        Ty::Vec(_) => "Array",
        Ty::Map(_) => "Object",
        Ty::Option(_) | Ty::Json | Ty::Named(_) => "Value",
    }
}

#[cfg(test)]
mod tests {
    use crate::ir::*;
    use crate::lower::{codes, lowered};

    /// The types of a spec with these component schemas (YAML, indented under `schemas:`).
    fn types(schemas: &str) -> Vec<TypeDef> {
        let spec = format!("openapi: 3.1.0\ninfo: {{title: t, version: '1'}}\npaths: {{}}\ncomponents:\n  schemas:\n{schemas}");
        let (api, diagnostics) = lowered(&spec);
        api.unwrap_or_else(|| panic!("{diagnostics:?}")).types
    }

    fn fields(def: &TypeDef) -> Vec<(&str, &Ty, bool)> {
        let TypeKind::Struct { fields, .. } = &def.kind else { panic!("{def:?} is not a struct") };
        fields.iter().map(|f| (f.name.as_str(), &f.ty, f.required)).collect()
    }

    #[test]
    fn an_object_is_a_struct_whose_optional_fields_are_options() {
        let types = types("    Star:\n      type: object\n      required: [name]\n      properties:\n        name: { type: string }\n        magnitude: { type: number, format: float }\n        seen-at: { type: [string, 'null'], format: date-time }\n");
        assert_eq!(types.len(), 1);
        assert_eq!((types[0].name.as_str(), types[0].api_name.as_str()), ("Star", "s.yaml#/components/schemas/Star"));
        let option = |ty: Ty| Ty::Option(Box::new(ty));
        assert_eq!(fields(&types[0]), [("name", &Ty::String, true), ("magnitude", &option(Ty::F32), false), ("seen_at", &option(Ty::DateTime), false)]);
    }

    #[test]
    fn all_of_merges_objects_and_one_of_with_null_is_an_option() {
        let types = types(
            "    Base: { type: object, required: [id], properties: { id: { type: integer, format: int32 } } }\n    Named:\n      allOf:\n        - $ref: '#/components/schemas/Base'\n        - { type: object, properties: { label: { oneOf: [{ type: string }, { type: 'null' }] } } }\n",
        );
        let named = types.iter().find(|t| t.name == "Named").expect("Named");
        assert_eq!(fields(named), [("id", &Ty::I32, true), ("label", &Ty::Option(Box::new(Ty::String)), false)], "in the order of `allOf`");
    }

    /// `allOf` may nest as deep as schemas may; only a part that leads back is a cycle.
    #[test]
    fn a_long_all_of_chain_is_no_cycle() {
        let chain: String = (0..40).map(|i| format!("    S{i}: {{ allOf: [{{ $ref: '#/components/schemas/S{}' }}, {{ type: object, properties: {{ p{i}: {{ type: string }} }} }}] }}\n", i + 1)).collect();
        let types = types(&format!("{chain}    S40: {{ type: object, properties: {{ end: {{ type: boolean }} }} }}\n"));
        assert_eq!(fields(&types[0]).len(), 41, "every part's property");
    }

    #[test]
    fn string_enums_and_unions_are_named_types() {
        let types = types("    Band: { type: string, enum: [radio, x-ray] }\n    Value: { oneOf: [{ type: string }, { type: integer }] }\n");
        assert!(matches!(&types[0].kind, TypeKind::StringEnum { variants } if variants.iter().map(|v| v.name.as_str()).eq(["Radio", "XRay"])));
        assert!(matches!(&types[1].kind, TypeKind::Union { variants, discriminator: None } if variants.iter().map(|v| v.name.as_str()).eq(["String", "Integer"])));
    }

    #[test]
    fn an_unknown_type_is_named_with_the_closest_one() {
        let spec = "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths: {}\ncomponents:\n  schemas:\n    A: { type: object, properties: { n: { type: integr } } }\n";
        let (api, diagnostics) = lowered(spec);
        assert!(api.is_none());
        assert_eq!(codes(&diagnostics), ["ivoagen::lower::unknown-type"]);
        assert!(diagnostics[0].help.as_deref().is_some_and(|h| h.starts_with("did you mean `integer`?")));
    }
}
