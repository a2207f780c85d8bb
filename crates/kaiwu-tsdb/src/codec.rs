//! WAL payload of one batch: a small header naming tenant, device type and type version, then
//! the rows as an Arrow IPC stream. Versioned so a future format can be told apart.

use std::io::Cursor;

use arrow_array::RecordBatch;
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::StreamWriter;
use kaiwu_core::Batch;

use crate::{Error, Result};

const VERSION: u8 = 1;

/// Encode a batch for the WAL.
pub(crate) fn encode(b: &Batch) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(64 + b.rows.get_array_memory_size());
    out.push(VERSION);
    for s in [&b.tenant, &b.device_type] {
        let len = u16::try_from(s.len()).map_err(|_| Error::Codec("name too long".into()))?;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    out.extend_from_slice(&b.type_version.to_le_bytes());
    let mut w = StreamWriter::try_new(&mut out, &b.rows.schema())?;
    w.write(&b.rows)?;
    w.finish()?;
    drop(w);
    Ok(out)
}

fn take<'a>(buf: &mut &'a [u8], n: usize) -> Result<&'a [u8]> {
    if buf.len() < n {
        return Err(Error::Codec("truncated header".into()));
    }
    let (head, rest) = buf.split_at(n);
    *buf = rest;
    Ok(head)
}

fn name(buf: &mut &[u8]) -> Result<String> {
    let len = take(buf, 2)?;
    let len = usize::from(u16::from_le_bytes([len[0], len[1]]));
    let s = take(buf, len)?;
    String::from_utf8(s.to_vec()).map_err(|_| Error::Codec("name is not utf-8".into()))
}

/// Decode a WAL payload.
pub(crate) fn decode(payload: &[u8]) -> Result<Batch> {
    let mut buf = payload;
    let v = take(&mut buf, 1)?[0];
    if v != VERSION {
        return Err(Error::Codec(format!("unknown batch format version {v}")));
    }
    let tenant = name(&mut buf)?;
    let device_type = name(&mut buf)?;
    let ver = take(&mut buf, 4)?;
    let type_version = u32::from_le_bytes([ver[0], ver[1], ver[2], ver[3]]);
    let reader = StreamReader::try_new(Cursor::new(buf), None)?;
    let schema = reader.schema();
    let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>()?;
    let rows = arrow_select::concat::concat_batches(&schema, &batches)?;
    Ok(Batch {
        tenant,
        device_type,
        type_version,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::batch;

    #[test]
    fn round_trip_and_garbage() {
        let b = batch("t1", &[("d1", 1000, 1.5), ("d2", 2000, 2.5)]);
        let back = decode(&encode(&b).unwrap()).unwrap();
        assert_eq!(
            (back.tenant.as_str(), back.device_type.as_str()),
            ("t1", "m")
        );
        assert_eq!(back.rows, b.rows);
        for junk in [&b""[..], &[1], &[2, 0, 0], &[1, 5, 0, b'a']] {
            assert!(decode(junk).is_err());
        }
    }
}
