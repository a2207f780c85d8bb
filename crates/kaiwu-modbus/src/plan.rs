//! Coalescing configured points into as few read requests as the protocol allows.

use crate::value::Area;

/// Most registers one FC 3/4 read may return.
pub const MAX_READ_REGISTERS: u16 = 125;
/// Most bits one FC 1/2 read may return.
pub const MAX_READ_BITS: u16 = 2000;

/// One read covering several points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRequest {
    pub area: Area,
    pub start: u16,
    pub count: u16,
    /// Indices into the `points` given to [`plan_reads`], in address order.
    pub points: Vec<usize>,
}

/// Groups `points` (area, address, width in registers or bits) into read requests: points of
/// one area are joined while the hole between them is at most `max_gap` and the request stays
/// within 125 registers / 2000 bits. A point is never split across requests; a point wider
/// than the limit gets a request of its own (which the client will reject). Width 0 counts as
/// 1. Output is ordered by area (coil, discrete, input, holding), then start address.
pub fn plan_reads(points: &[(Area, u16, u16)], max_gap: u16) -> Vec<ReadRequest> {
    let mut order: Vec<usize> = (0..points.len()).collect();
    // Stable sort with the index as last key: equal inputs always give equal plans.
    order.sort_by_key(|&i| (points[i].0, points[i].1, points[i].2, i));

    let mut out: Vec<ReadRequest> = Vec::new();
    // End (exclusive) of the current request, in u32 so address + width cannot overflow.
    let mut end = 0u32;
    for i in order {
        let (area, addr, width) = points[i];
        let addr32 = u32::from(addr);
        let p_end = addr32 + u32::from(width.max(1));
        let limit = u32::from(if area.is_bit() {
            MAX_READ_BITS
        } else {
            MAX_READ_REGISTERS
        });
        if let Some(cur) = out.last_mut() {
            let start = u32::from(cur.start);
            let new_end = end.max(p_end);
            if cur.area == area && addr32 <= end + u32::from(max_gap) && new_end - start <= limit {
                end = new_end;
                cur.count = clamp_count(new_end - start);
                cur.points.push(i);
                continue;
            }
        }
        end = p_end;
        out.push(ReadRequest {
            area,
            start: addr,
            count: clamp_count(p_end - addr32),
            points: vec![i],
        });
    }
    out
}

fn clamp_count(n: u32) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests;
