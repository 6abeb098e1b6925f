//! `HCOMPRESS_1` tiles (the tiled image compression convention, FITS 4.0 §10): R. White's
//! H-transform (1992), a two-dimensional Haar transform of integers, its coefficients divided by a
//! scale (lossy when the scale is above 1), then coded bit plane by bit plane with a quadtree.
//!
//! A tile's stream is a header — the magic bytes `DD 99`, the tile's size as two big-endian
//! 32-bit numbers (rows, then the length of a row), the scale, the coarsest sum (64-bit) and the
//! number of bit planes of the three groups of coefficients — then the magnitudes of the
//! coefficients, quadrant by quadrant, then their signs. Decoding undoes each step: the quadtrees
//! give the magnitudes, the signs are applied, the scale multiplies the coefficients back and the
//! inverse H-transform gives the pixels, with its rounding; `SMOOTH` interpolates the coefficients
//! the scale lost from their neighbours as the transform is inverted.
//!
//! CFITSIO decodes tiles of 8- and 16-bit images in 32-bit integers and every other one in 64-bit
//! integers, and its arithmetic wraps: [`Coefficient`] is either, so the pixels are its pixels bit
//! for bit. Everything is bounded by the tile's size, which the caller gives: a stream that claims
//! another size, ends early or holds a code that is not one is an error, never a panic.

use crate::service::tiles::Bits;
use std::ops::{BitAnd, BitOr, BitXor, Shl, Shr};

/// The integers a tile is decoded in (`i32` or `i64`), with wrapping arithmetic.
pub trait Coefficient: Copy + Default + Ord + BitAnd<Output = Self> + BitOr<Output = Self> + BitXor<Output = Self> + Shl<u32, Output = Self> + Shr<u32, Output = Self> {
    /// The number of bits, which bounds the number of bit planes.
    const BITS: u32;
    /// `value` cut to this width (its low bits).
    fn cut(value: i64) -> Self;
    fn plus(self, other: Self) -> Self;
    fn minus(self, other: Self) -> Self;
    fn times(self, other: Self) -> Self;
    fn negated(self) -> Self;
}

macro_rules! coefficient {
    ($type:ty) => {
        impl Coefficient for $type {
            const BITS: u32 = <$type>::BITS;
            fn cut(value: i64) -> Self {
                value as $type
            }
            fn plus(self, other: Self) -> Self {
                self.wrapping_add(other)
            }
            fn minus(self, other: Self) -> Self {
                self.wrapping_sub(other)
            }
            fn times(self, other: Self) -> Self {
                self.wrapping_mul(other)
            }
            fn negated(self) -> Self {
                self.wrapping_neg()
            }
        }
    };
}
coefficient!(i32);
coefficient!(i64);

/// The first two bytes of a tile's stream.
const MAGIC: [u8; 2] = [0xDD, 0x99];

/// The length of the header: magic, rows, row length, scale, sum, three bit-plane counts.
const HEADER: usize = 2 + 4 + 4 + 4 + 8 + 3;

/// Decodes the `pixels` pixels of an HCOMPRESS_1 tile from `data`, first axis fastest; `smooth`
/// as `SMOOTH` says. An error says what in the stream is wrong.
pub fn decode<T: Coefficient>(data: &[u8], pixels: usize, smooth: bool) -> Result<Vec<T>, String> {
    let header = data.get(..HEADER).ok_or("the stream is shorter than its header")?;
    if header[..2] != MAGIC {
        return Err(format!("the stream starts with {:02X} {:02X}, not DD 99", header[0], header[1]));
    }
    let int = |at: usize| i32::from_be_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]]);
    let (rows, columns, scale) = (int(2), int(6), int(10));
    let sum = i64::from_be_bytes(header[14..22].try_into().unwrap_or_default());
    let planes = [header[22], header[23], header[24]];
    // The tile's shape: positive, as many pixels as the tile has, and not a single pixel (which
    // has no H-transform, and which CFITSIO never writes).
    let (rows, columns) = match (usize::try_from(rows), usize::try_from(columns)) {
        (Ok(r), Ok(c)) if r > 0 && c > 0 && r.checked_mul(c) == Some(pixels) && pixels > 1 => (r, c),
        _ => return Err(format!("the stream is of {rows} × {columns} pixels, the tile of {pixels}")),
    };
    if let Some(&p) = planes.iter().find(|&&p| u32::from(p) > T::BITS) {
        return Err(format!("{p} bit planes for {}-bit coefficients", T::BITS));
    }
    let mut a = vec![T::default(); pixels];
    let mut bits = Bits { data, at: 8 * HEADER };
    // The magnitudes, quadrant by quadrant: the coarser levels (top left), the finest level's
    // differences along rows and along columns (one count of bit planes for both), and its cross
    // differences.
    let (half_rows, half_columns) = (rows.div_ceil(2), columns.div_ceil(2));
    let quadrants = [
        (0, half_rows, half_columns, planes[0]),
        (half_columns, half_rows, columns / 2, planes[1]),
        (columns * half_rows, rows / 2, half_columns, planes[1]),
        (columns * half_rows + half_columns, rows / 2, columns / 2, planes[2]),
    ];
    for (start, quadrant_rows, quadrant_columns, planes) in quadrants {
        Quadrant { start, rows: quadrant_rows, columns: quadrant_columns, stride: columns }.decode(&mut bits, &mut a, planes)?;
    }
    if nybble(&mut bits)? != 0 {
        return Err("the bit planes do not end with a zero code".into());
    }
    // The signs, one bit for each nonzero magnitude, from the next byte on.
    bits.at = bits.at.div_ceil(8) * 8;
    for value in a.iter_mut().filter(|v| **v != T::default()) {
        if bits.take(1).ok_or("the stream ends in its signs")? == 1 {
            *value = value.negated();
        }
    }
    // The coarsest sum is in the header whole, in place of what the bit planes gave.
    a[0] = T::cut(sum);
    if scale > 1 {
        let scale = T::cut(scale.into());
        a.iter_mut().for_each(|v| *v = v.times(scale));
    }
    inverse(&mut a, rows, columns, smooth.then_some(scale));
    Ok(a)
}

/// ⌈log₂ n⌉ (0 for 0 and 1): the number of halvings that take `n` to 1.
fn levels(n: usize) -> u32 {
    if n <= 1 { 0 } else { usize::BITS - (n - 1).leading_zeros() }
}

/// The next 4 bits.
fn nybble(bits: &mut Bits) -> Result<u8, String> {
    bits.take(4).map(|n| n as u8).ok_or_else(|| "the stream ends in its bit planes".into())
}

/// The prefix code of a quadtree's 4-bit values (which of a 2 × 2 block's bits are set): each
/// value, its code and the code's length.
const CODES: [(u8, u8, u32); 16] = [
    (1, 0b000, 3),
    (2, 0b001, 3),
    (4, 0b010, 3),
    (8, 0b011, 3),
    (3, 0b1000, 4),
    (5, 0b1001, 4),
    (10, 0b1010, 4),
    (12, 0b1011, 4),
    (15, 0b1100, 4),
    (6, 0b11010, 5),
    (7, 0b11011, 5),
    (9, 0b11100, 5),
    (11, 0b11101, 5),
    (13, 0b11110, 5),
    (0, 0b111110, 6),
    (14, 0b111111, 6),
];

/// [`CODES`] by their next 6 bits: the value and the code's length.
const BY_PREFIX: [(u8, u32); 64] = {
    let mut table = [(0, 0); 64];
    let mut i = 0;
    while i < CODES.len() {
        let (value, code, length) = CODES[i];
        let first = (code as usize) << (6 - length);
        let mut k = 0;
        while k < 1 << (6 - length) {
            table[first + k] = (value, length);
            k += 1;
        }
        i += 1;
    }
    table
};

/// The next quadtree value.
fn value(bits: &mut Bits) -> Result<u8, String> {
    let (value, length) = BY_PREFIX[(bits.word() >> 58) as usize];
    bits.take(length).ok_or("the stream ends in a quadtree")?;
    Ok(value)
}

/// Whether bit `(row, column)` of the 2 × 2 block a quadtree value describes is set: bit 3 is
/// the block's first pixel, bit 2 the next on its row, bits 1 and 0 those of the next row.
fn bit_of(value: u8, row: usize, column: usize) -> bool {
    value >> (3 - 2 * (row & 1) - (column & 1)) & 1 == 1
}

/// A quadrant of the coefficients: where it starts, its size, and the length of a row of the tile.
struct Quadrant {
    start: usize,
    rows: usize,
    columns: usize,
    stride: usize,
}

impl Quadrant {
    /// Reads the `planes` bit planes of the quadrant's magnitudes into `a`, highest first: each
    /// written directly (code 0, then a 4-bit value per 2 × 2 block) or as a quadtree (code 15):
    /// a value for the whole quadrant, then for each set bit of each level the value of the
    /// block under it, level by level down to blocks of 2 × 2 pixels.
    fn decode<T: Coefficient>(&self, bits: &mut Bits, a: &mut [T], planes: u8) -> Result<(), String> {
        let (half_rows, half_columns) = (self.rows.div_ceil(2), self.columns.div_ceil(2));
        let depth = levels(self.rows.max(self.columns));
        // A level's blocks, and the next level's as it is read; an empty quadrant (a tile one
        // pixel wide) still has the one block its stream codes.
        let mut values: Vec<u8> = Vec::with_capacity(half_rows.max(1) * half_columns.max(1));
        let mut next: Vec<u8> = Vec::with_capacity(values.capacity());
        for plane in (0..planes as u32).rev() {
            values.clear();
            match nybble(bits)? {
                0 => {
                    for _ in 0..half_rows * half_columns {
                        values.push(nybble(bits)?);
                    }
                }
                0xF => {
                    values.push(value(bits)?);
                    let (mut rows, mut columns) = (1, 1);
                    for level in (1..depth).rev() {
                        // The blocks of this level: the quadrant's size halved `level` times.
                        let (next_rows, next_columns) = (self.rows.div_ceil(1 << level).max(1), self.columns.div_ceil(1 << level).max(1));
                        next.clear();
                        for row in 0..next_rows {
                            next.extend((0..next_columns).map(|column| bit_of(values[(row / 2) * columns + column / 2], row, column) as u8));
                        }
                        // The values under the set bits, read from the last block back.
                        for block in next.iter_mut().rev().filter(|b| **b != 0) {
                            *block = value(bits)?;
                        }
                        std::mem::swap(&mut values, &mut next);
                        (rows, columns) = (next_rows, next_columns);
                    }
                    debug_assert!(self.rows == 0 || self.columns == 0 || (rows, columns) == (half_rows, half_columns));
                }
                code => return Err(format!("bit plane code {code} (neither 0 nor 15)")),
            }
            // The values of 2 × 2 blocks give bit `plane` of each pixel of the quadrant.
            let bit = T::cut(1) << plane;
            for row in 0..self.rows {
                let line = self.start + row * self.stride;
                for column in 0..self.columns {
                    if bit_of(values[(row / 2) * half_columns + column / 2], row, column) {
                        a[line + column] = a[line + column] | bit;
                    }
                }
            }
        }
        Ok(())
    }
}

/// `h` plus `up` when it is positive or zero, `down` when it is negative, its bits below `mask`
/// cleared: a coefficient rounded to the multiple of a power of 2 the transform left it.
fn round<T: Coefficient>(h: T, up: T, down: T, mask: T) -> T {
    h.plus(if h >= T::default() { up } else { down }) & mask
}

/// `h` moved `by` toward zero: down when it is positive or zero, up when it is negative.
fn toward_zero<T: Coefficient>(h: T, by: T) -> T {
    if h >= T::default() { h.minus(by) } else { h.plus(by) }
}

/// The inverse H-transform of the coefficients `a` of a `rows` × `columns` tile, in place, level
/// by level from the coarsest: each level's sums and differences are interleaved back into 2 × 2
/// blocks (smoothed first with the scale given), rounded as the forward transform left them, and
/// turned back into the four values of their block — the finest level's divided by 4, the
/// others by 2. `rows × columns` is at least 2.
fn inverse<T: Coefficient>(a: &mut [T], rows: usize, columns: usize, smooth: Option<i32>) {
    let (zero, one) = (T::default(), T::cut(1));
    // A tile has at most 2²⁶ pixels: every power of 2 here fits in 32 bits.
    let power = |k: u32| T::cut(1i64 << k);
    let depth = levels(rows.max(columns));
    // The sum of the coarsest level is a multiple of 2^(depth + 1).
    a[0] = round(a[0], power(depth), power(depth).minus(one), power(depth + 1).negated());
    let mut scratch = Vec::with_capacity(rows.max(columns));
    for level in (0..depth).rev() {
        let (level_rows, level_columns) = (rows.div_ceil(1 << level), columns.div_ceil(1 << level));
        for row in 0..level_rows {
            unshuffle(a, row * columns, level_columns, 1, &mut scratch);
        }
        for column in 0..level_columns {
            unshuffle(a, column, level_rows, columns, &mut scratch);
        }
        if let Some(scale) = smooth {
            self::smooth(a, level_rows, level_columns, columns, scale);
        }
        // The x and y differences are multiples of 2^(level + 1), the cross differences of
        // 2^level: each is rounded to the nearest (halves away from zero), except the cross
        // differences of the finest level, whole already.
        let (bit0, bit1) = (power(level), power(level + 1));
        let (up0, down0) = if level == 0 { (zero, zero) } else { (power(level - 1), power(level - 1).minus(one)) };
        let (up1, down1) = (bit0, bit0.minus(one));
        let (mask0, mask1) = (bit0.negated(), bit1.negated());
        let shift = if level == 0 { 2 } else { 1 };
        let (odd_rows, odd_columns) = (level_rows % 2 == 1, level_columns % 2 == 1);
        let (even_rows, even_columns) = (level_rows - odd_rows as usize, level_columns - odd_columns as usize);
        for row in (0..even_rows).step_by(2) {
            let (this, next) = (row * columns, (row + 1) * columns);
            for column in (0..even_columns).step_by(2) {
                let h0 = a[this + column];
                let hx = round(a[next + column], up1, down1, mask1);
                let hy = round(a[this + column + 1], up1, down1, mask1);
                let hc = round(a[next + column + 1], up0, down0, mask0);
                // The lowest bits of the differences are carried into the sum.
                let low0 = hc & bit0;
                let (hx, hy) = (toward_zero(hx, low0), toward_zero(hy, low0));
                let low1 = (hc ^ hx ^ hy) & bit1;
                let h0 = if h0 >= zero || low0 != zero { h0.plus(low0).minus(low1) } else { h0.plus(low1) };
                a[next + column + 1] = h0.plus(hx).plus(hy).plus(hc) >> shift;
                a[next + column] = h0.plus(hx).minus(hy).minus(hc) >> shift;
                a[this + column + 1] = h0.minus(hx).plus(hy).minus(hc) >> shift;
                a[this + column] = h0.minus(hx).minus(hy).plus(hc) >> shift;
            }
            if odd_columns {
                // The last column: a sum and an x difference.
                let column = level_columns - 1;
                let hx = round(a[next + column], up1, down1, mask1);
                let h0 = toward_zero(a[this + column], hx & bit1);
                a[next + column] = h0.plus(hx) >> shift;
                a[this + column] = h0.minus(hx) >> shift;
            }
        }
        if odd_rows {
            // The last row: a sum and a y difference, and the corner a sum alone.
            let this = (level_rows - 1) * columns;
            for column in (0..even_columns).step_by(2) {
                let hy = round(a[this + column + 1], up1, down1, mask1);
                let h0 = toward_zero(a[this + column], hy & bit1);
                a[this + column + 1] = h0.plus(hy) >> shift;
                a[this + column] = h0.minus(hy) >> shift;
            }
            if odd_columns {
                let corner = this + level_columns - 1;
                a[corner] = a[corner] >> shift;
            }
        }
    }
}

/// The `n` values of `a` from `start`, `stride` apart, interleaved: the first half (rounded up)
/// to the even places, the second to the odd ones.
fn unshuffle<T: Copy>(a: &mut [T], start: usize, n: usize, stride: usize, scratch: &mut Vec<T>) {
    scratch.clear();
    scratch.extend((0..n).map(|i| a[start + i * stride]));
    let half = n.div_ceil(2);
    for (i, &value) in scratch.iter().enumerate() {
        let to = if i < half { 2 * i } else { 2 * (i - half) + 1 };
        a[start + to * stride] = value;
    }
}

/// `SMOOTH`: the differences of the level about to be inverted (`rows` × `columns` of a tile
/// `stride` wide) moved toward the slopes and curvature the neighbouring blocks' sums suggest, as
/// far as keeps the result monotonic between them and by at most half the scale (what dividing by
/// the scale may have lost). Coefficients at the level's edges are left as they are.
fn smooth<T: Coefficient>(a: &mut [T], rows: usize, columns: usize, stride: usize, scale: i32) {
    let zero = T::default();
    let limit = T::cut((scale >> 1).into());
    if limit <= zero {
        return;
    }
    // The bounds on 4 × a slope between the sums on either side that keep the three monotonic.
    let slope_bounds = |before: T, sum: T, after: T| {
        let (rise, fall) = (after.minus(sum), sum.minus(before));
        (rise.max(fall).min(zero) << 2, rise.min(fall).max(zero) << 2)
    };
    // x differences (between rows), from the sums of the blocks above and below.
    for row in (2..rows.saturating_sub(2)).step_by(2) {
        for column in (0..columns).step_by(2) {
            let at = row * stride + column;
            let (before, sum, after) = (a[at - 2 * stride], a[at], a[at + 2 * stride]);
            let (low, high) = slope_bounds(before, sum, after);
            a[at + stride] = adjusted(a[at + stride], after.minus(before), low, high, 3, limit);
        }
    }
    // y differences (along rows), from the sums of the blocks left and right.
    for row in (0..rows).step_by(2) {
        for column in (2..columns.saturating_sub(2)).step_by(2) {
            let at = row * stride + column;
            let (before, sum, after) = (a[at - 2], a[at], a[at + 2]);
            let (low, high) = slope_bounds(before, sum, after);
            a[at + 1] = adjusted(a[at + 1], after.minus(before), low, high, 3, limit);
        }
    }
    // Cross differences, from the sums of the four diagonal blocks and the block's own slopes.
    for row in (2..rows.saturating_sub(2)).step_by(2) {
        for column in (2..columns.saturating_sub(2)).step_by(2) {
            let at = row * stride + column;
            let sum = a[at];
            let (mm, pm) = (a[at - 2 * stride - 2], a[at + 2 * stride - 2]);
            let (mp, pp) = (a[at - 2 * stride + 2], a[at + 2 * stride + 2]);
            let (x2, y2) = (a[at + stride] << 1, a[at + 1] << 1);
            let bound = |pick: fn(T, T) -> T, clip: fn(T, T) -> T| {
                let first = pick(clip(pp.minus(sum), zero).minus(x2).minus(y2), clip(sum.minus(pm), zero).plus(x2).minus(y2));
                let second = pick(clip(sum.minus(mp), zero).minus(x2).plus(y2), clip(mm.minus(sum), zero).plus(x2).plus(y2));
                pick(first, second) << 4
            };
            let high = bound(Ord::min, Ord::max);
            let low = bound(Ord::max, Ord::min);
            let diff = pp.plus(mm).minus(mp).minus(pm);
            a[at + stride + 1] = adjusted(a[at + stride + 1], diff, low, high, 6, limit);
        }
    }
}

/// Coefficient `h` (a difference, 2^`shift` times smaller than `target`) moved toward `target`
/// kept within `low..=high`, by at most `limit`; unchanged when the bounds leave no room.
fn adjusted<T: Coefficient>(h: T, target: T, low: T, high: T, shift: u32, limit: T) -> T {
    if low >= high {
        return h;
    }
    let change = target.min(high).max(low).minus(h << shift);
    // Divided by 2^shift toward zero.
    let change = if change >= T::default() { change >> shift } else { change.plus(T::cut((1 << shift) - 1)) >> shift };
    h.plus(change.min(limit).max(limit.negated()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tile `fpack -h` wrote (CFITSIO 4.2.0): 8 rows of 6 int16 pixels, `(7x − 5y + xy) mod 23 − 5`.
    const LOSSLESS: [u8; 70] = [
        0xDD, 0x99, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x60, 0x06, 0x05, 0x05, 0xF2, 0x3F, 0x8F,
        0x60, 0x15, 0x35, 0xFA, 0xDB, 0xF0, 0xFF, 0xE0, 0x7A, 0x3A, 0xFE, 0x36, 0x06, 0x46, 0x5F, 0xF7, 0xFD, 0xE5, 0x7D, 0x55, 0x7D, 0x73, 0xC1, 0xF5, 0xF5, 0xFF, 0x7D, 0x5B,
        0xFF, 0xBE, 0xAD, 0xFD, 0x5B, 0x07, 0xA3, 0xA0, 0xA0, 0x0D, 0x3B, 0x9C, 0x1D, 0xC0,
    ];

    /// The same pixels through `fpack -h -s -3` (scale 3).
    const LOSSY: [u8; 62] = [
        0xDD, 0x99, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20, 0x04, 0x04, 0x03, 0xF8, 0x60, 0x1E,
        0x04, 0x00, 0x0A, 0x48, 0x1C, 0xBE, 0xBC, 0x30, 0x7A, 0x32, 0x0B, 0x23, 0x20, 0xFA, 0x32, 0xFF, 0xBE, 0xAD, 0xFD, 0x6F, 0x61, 0x55, 0x55, 0xF5, 0x6F, 0xEA, 0xDF, 0xD5,
        0xB0, 0xA0, 0x0D, 0x3B, 0xF3, 0xF0,
    ];

    /// CFITSIO's pixels of [`LOSSY`] (imcopy).
    const LOSSY_PIXELS: [i32; 48] = [
        -6, 0, 8, 16, 0, 8, 12, -3, 5, 13, -2, 6, 7, 18, 2, 13, -3, 8, 2, 13, -1, 10, -5, 6, -1, 9, -2, 8, -4, 8, 17, 6, 17, 6, -6, 6, 13, 2, 16, 5, 18, 7, 8, -3, 13, 2, 16, 5,
    ];

    /// CFITSIO's pixels of [`LOSSY`] with `SMOOTH = 1` (imcopy of the file with `ZVAL2 = 1`).
    const SMOOTHED_PIXELS: [i32; 48] = [
        -6, 0, 8, 16, 0, 8, 12, -3, 5, 13, -2, 6, 7, 18, 2, 12, -3, 8, 2, 13, -1, 9, -4, 7, 0, 10, -2, 8, -4, 8, 17, 6, 17, 6, -6, 6, 13, 2, 15, 5, 18, 7, 8, -3, 12, 2, 16, 5,
    ];

    fn original() -> Vec<i32> {
        (0..8i32).flat_map(|y| (0..6).map(move |x| (7 * x - 5 * y + x * y).rem_euclid(23) - 5)).collect()
    }

    #[test]
    fn fpack_tiles_decode_to_cfitsios_pixels_in_either_width() {
        assert_eq!(decode::<i32>(&LOSSLESS, 48, false).unwrap(), original());
        let wide: Vec<i32> = decode::<i64>(&LOSSLESS, 48, false).unwrap().into_iter().map(|v| v as i32).collect();
        assert_eq!(wide, original());
        assert_eq!(decode::<i32>(&LOSSY, 48, false).unwrap(), LOSSY_PIXELS);
        assert_eq!(decode::<i32>(&LOSSY, 48, true).unwrap(), SMOOTHED_PIXELS);
        let wide: Vec<i32> = decode::<i64>(&LOSSY, 48, true).unwrap().into_iter().map(|v| v as i32).collect();
        assert_eq!(wide, SMOOTHED_PIXELS);
    }

    #[test]
    fn an_all_zero_tile_is_a_header_and_one_code() {
        let mut stream = vec![0xDD, 0x99, 0, 0, 0, 4, 0, 0, 0, 5, 0, 0, 0, 0];
        stream.extend([0; 8]);
        stream.extend([0, 0, 0]);
        stream.push(0x00);
        assert_eq!(decode::<i32>(&stream, 20, false).unwrap(), vec![0; 20]);
    }

    #[test]
    fn the_prefix_code_is_complete_and_unambiguous() {
        let mut seen = [false; 16];
        for (value, length) in BY_PREFIX {
            assert!((3..=6).contains(&length), "every 6-bit prefix starts a code");
            seen[value as usize] = true;
        }
        assert!(seen.iter().all(|&s| s), "every 4-bit value has a code");
        // Kraft: the lengths fill the code space exactly.
        assert_eq!(CODES.iter().map(|&(_, _, l)| 64 >> l).sum::<u32>(), 64);
    }

    #[test]
    fn a_damaged_stream_is_an_error_never_a_panic() {
        // Every truncation: the stream ends somewhere in its bit planes or signs.
        for end in 0..LOSSLESS.len() {
            assert!(decode::<i32>(&LOSSLESS[..end], 48, false).is_err(), "{end} bytes decoded");
        }
        // Another size than the tile's, a 1-pixel tile, a negative size.
        assert!(decode::<i32>(&LOSSLESS, 49, false).unwrap_err().contains("8 × 6 pixels, the tile of 49"));
        let mut one = LOSSLESS;
        one[2..10].copy_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
        assert!(decode::<i32>(&one, 1, false).is_err());
        let mut negative = LOSSLESS;
        negative[2..6].copy_from_slice(&(-8i32).to_be_bytes());
        assert!(decode::<i32>(&negative, 48, false).is_err());
        // Not the magic; more bit planes than the coefficients have bits; an unknown plane code.
        let mut magic = LOSSLESS;
        magic[1] = 0x98;
        assert!(decode::<i32>(&magic, 48, false).unwrap_err().contains("not DD 99"));
        let mut planes = LOSSLESS;
        planes[22] = 33;
        assert!(decode::<i32>(&planes, 48, false).unwrap_err().contains("33 bit planes for 32-bit"));
        planes[22] = 65;
        assert!(decode::<i64>(&planes, 48, false).unwrap_err().contains("65 bit planes for 64-bit"));
        let mut code = LOSSLESS;
        code[25] = 0x72;
        assert!(decode::<i32>(&code, 48, false).unwrap_err().contains("bit plane code 7"));
        // Every single flipped bit, and every byte set to each extreme, in both widths: decoded
        // or refused, never a panic (the arithmetic wraps as CFITSIO's does).
        for bit in 0..8 * LOSSLESS.len() {
            let mut flipped = LOSSLESS;
            flipped[bit / 8] ^= 0x80 >> (bit % 8);
            for smooth in [false, true] {
                let _ = decode::<i32>(&flipped, 48, smooth);
                let _ = decode::<i64>(&flipped, 48, smooth);
            }
        }
        for at in 0..LOSSLESS.len() {
            for byte in [0x00, 0xFF, 0x7F, 0x80] {
                let mut changed = LOSSLESS;
                changed[at] = byte;
                let _ = decode::<i32>(&changed, 48, true);
                let _ = decode::<i64>(&changed, 48, true);
            }
        }
    }

    #[test]
    fn extreme_scales_and_sums_wrap_rather_than_overflow() {
        let mut stream = LOSSY;
        stream[10..14].copy_from_slice(&i32::MAX.to_be_bytes());
        stream[14..22].copy_from_slice(&i64::MIN.to_be_bytes());
        assert_eq!(decode::<i32>(&stream, 48, true).unwrap().len(), 48);
        assert_eq!(decode::<i64>(&stream, 48, true).unwrap().len(), 48);
    }
}
