//! The time range implied by filters on `ts`, so only segments that may match are asked for.
//! Always a superset of the matching rows (DataFusion re-applies the filters): anything not
//! understood widens to "unbounded".

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{Between, BinaryExpr, Cast, Expr, Operator, TryCast};
use kaiwu_core::batch::TS;
use kaiwu_tsdb::TimeRange;

/// Intersection of the ranges of all (AND-ed) filters.
pub(crate) fn time_range(filters: &[Expr]) -> TimeRange {
    filters
        .iter()
        .fold(TimeRange::ALL, |r, f| intersect(r, expr_range(f)))
}

fn expr_range(e: &Expr) -> TimeRange {
    match e {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
            Operator::And => intersect(expr_range(left), expr_range(right)),
            Operator::Or => hull(expr_range(left), expr_range(right)),
            _ => compare(left, *op, right),
        },
        Expr::Between(Between {
            expr,
            negated: false,
            low,
            high,
        }) => intersect(
            compare(expr, Operator::GtEq, low),
            compare(expr, Operator::LtEq, high),
        ),
        _ => TimeRange::ALL,
    }
}

/// `left op right` where one side is `ts` and the other a literal.
fn compare(left: &Expr, op: Operator, right: &Expr) -> TimeRange {
    if is_ts(left)
        && let Some(v) = literal_ms(right)
    {
        return bound(op, v);
    }
    if is_ts(right)
        && let (Some(v), Some(op)) = (literal_ms(left), op.swap())
    {
        return bound(op, v);
    }
    TimeRange::ALL
}

/// The column itself, or a lossless cast of it (to a finer timestamp unit or to its integer).
fn is_ts(e: &Expr) -> bool {
    match e {
        Expr::Column(c) => c.name == TS,
        Expr::Cast(Cast { expr, field }) | Expr::TryCast(TryCast { expr, field }) => {
            matches!(
                field.data_type(),
                DataType::Int64
                    | DataType::Timestamp(
                        TimeUnit::Millisecond | TimeUnit::Microsecond | TimeUnit::Nanosecond,
                        _
                    )
            ) && is_ts(expr)
        }
        _ => false,
    }
}

/// A literal as epoch ms: `(floor, exact)`. Integers count as ms.
fn literal_ms(e: &Expr) -> Option<(i64, bool)> {
    let Expr::Literal(v, _) = e else {
        return None;
    };
    let div = |x: i64, d: i64| (x.div_euclid(d), x.rem_euclid(d) == 0);
    Some(match v {
        ScalarValue::TimestampMillisecond(Some(x), _) | ScalarValue::Int64(Some(x)) => (*x, true),
        ScalarValue::TimestampSecond(Some(x), _) => (x.checked_mul(1000)?, true),
        ScalarValue::TimestampMicrosecond(Some(x), _) => div(*x, 1000),
        ScalarValue::TimestampNanosecond(Some(x), _) => div(*x, 1_000_000),
        ScalarValue::Int32(Some(x)) => (i64::from(*x), true),
        _ => return None,
    })
}

/// The range of `ts op v`.
fn bound(op: Operator, (v, exact): (i64, bool)) -> TimeRange {
    let next = v.checked_add(1);
    let (start, end) = match op {
        Operator::GtEq if exact => (Some(v), None),
        Operator::GtEq | Operator::Gt => (next, None),
        Operator::Lt if exact => (None, Some(v)),
        Operator::Lt | Operator::LtEq => (None, next),
        Operator::Eq => (Some(v), next),
        _ => return TimeRange::ALL,
    };
    // Overflow at i64::MAX: keep the side unbounded rather than wrong.
    TimeRange { start, end }
}

fn intersect(a: TimeRange, b: TimeRange) -> TimeRange {
    let pick = |x: Option<i64>, y: Option<i64>, f: fn(i64, i64) -> i64| match (x, y) {
        (Some(x), Some(y)) => Some(f(x, y)),
        (x, y) => x.or(y),
    };
    TimeRange {
        start: pick(a.start, b.start, i64::max),
        end: pick(a.end, b.end, i64::min),
    }
}

/// Smallest range covering both (for OR).
fn hull(a: TimeRange, b: TimeRange) -> TimeRange {
    let both = |x: Option<i64>, y: Option<i64>, f: fn(i64, i64) -> i64| Some(f(x?, y?));
    TimeRange {
        start: both(a.start, b.start, i64::min),
        end: both(a.end, b.end, i64::max),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::logical_expr::{col, lit};

    fn ts_lit(ms: i64) -> Expr {
        lit(ScalarValue::TimestampMillisecond(
            Some(ms),
            Some("UTC".into()),
        ))
    }

    fn r(start: Option<i64>, end: Option<i64>) -> TimeRange {
        TimeRange { start, end }
    }

    #[test]
    fn comparisons_and_combinations() {
        let ts = || col("ts");
        assert_eq!(time_range(&[ts().gt_eq(ts_lit(10))]), r(Some(10), None));
        assert_eq!(time_range(&[ts().gt(ts_lit(10))]), r(Some(11), None));
        assert_eq!(time_range(&[ts().lt(ts_lit(10))]), r(None, Some(10)));
        assert_eq!(time_range(&[ts().lt_eq(ts_lit(10))]), r(None, Some(11)));
        assert_eq!(time_range(&[ts().eq(ts_lit(10))]), r(Some(10), Some(11)));
        assert_eq!(time_range(&[ts_lit(10).lt(ts())]), r(Some(11), None));
        assert_eq!(
            time_range(&[ts().gt_eq(ts_lit(10)), ts().lt(lit(20i64))]),
            r(Some(10), Some(20))
        );
        assert_eq!(
            time_range(&[ts().between(ts_lit(10), ts_lit(20))]),
            r(Some(10), Some(21))
        );
        let or = ts()
            .lt(ts_lit(5))
            .and(ts().gt_eq(ts_lit(0)))
            .or(ts().gt_eq(ts_lit(10)).and(ts().lt(ts_lit(20))));
        assert_eq!(time_range(&[or]), r(Some(0), Some(20)));
        let half_open_or = ts().lt(ts_lit(5)).or(col("x").eq(lit(1)));
        assert_eq!(time_range(&[half_open_or]), TimeRange::ALL);
    }

    #[test]
    fn other_units_widen_never_narrow() {
        let ns = |v| lit(ScalarValue::TimestampNanosecond(Some(v), None));
        // Whole milliseconds: ts >= 1.5 ms is ts >= 2 ms, ts < 1.5 ms is ts < 2 ms.
        assert_eq!(
            time_range(&[col("ts").gt_eq(ns(1_500_000))]),
            r(Some(2), None)
        );
        assert_eq!(time_range(&[col("ts").lt(ns(1_500_000))]), r(None, Some(2)));
        let s = lit(ScalarValue::TimestampSecond(Some(2), None));
        assert_eq!(time_range(&[col("ts").gt_eq(s)]), r(Some(2000), None));
        let cast_ns = Expr::Cast(Cast::new(
            Box::new(col("ts")),
            DataType::Timestamp(TimeUnit::Nanosecond, None),
        ));
        assert_eq!(time_range(&[cast_ns.lt(ns(3_000_000))]), r(None, Some(3)));
        // Casting to seconds loses precision: not used.
        let cast_s = Expr::Cast(Cast::new(
            Box::new(col("ts")),
            DataType::Timestamp(TimeUnit::Second, None),
        ));
        assert_eq!(time_range(&[cast_s.lt_eq(lit(1i64))]), TimeRange::ALL);
        assert_eq!(time_range(&[col("other").gt(ts_lit(1))]), TimeRange::ALL);
        assert_eq!(time_range(&[col("ts").not_eq(ts_lit(1))]), TimeRange::ALL);
    }
}
