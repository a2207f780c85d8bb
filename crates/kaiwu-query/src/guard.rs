//! Bounds on the shape of SQL before DataFusion plans it. Long operator chains
//! (`1 + 1 + ...`, `a OR b OR ...`, `... UNION ALL ...`) parse without recursion but become
//! trees that DataFusion walks recursively (derived `Clone`, `Drop`), which overflows the stack
//! and aborts the whole process. Parentheses and nested calls are already bounded by the
//! parser's recursion limit.

use std::ops::ControlFlow;

use datafusion::sql::parser::Statement;
use datafusion::sql::sqlparser::ast::{Expr, Query, SetExpr, TableFactor, Visit, Visitor};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

use crate::{Error, Result};

/// Most tokens in a statement; bounds the depth of the parsed tree (freed recursively).
pub(crate) const MAX_TOKENS: usize = 50_000;
/// Deepest expression nesting, most set operations in a chain, most subqueries and tables.
pub(crate) const MAX_DEPTH: usize = 1000;

/// Refuses SQL text with too many tokens (before parsing).
pub(crate) fn check_text(sql: &str) -> Result<()> {
    // Unparsable text is left to the parser, which gives the better message.
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, sql).tokenize() else {
        return Ok(());
    };
    let n = tokens
        .iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .count();
    if n > MAX_TOKENS {
        return Err(Error::Sql(format!(
            "the query has {n} tokens, more than the {MAX_TOKENS} allowed"
        )));
    }
    Ok(())
}

/// Refuses anything but a query (early, for statements DataFusion would plan before
/// refusing), and trees deeper than [`MAX_DEPTH`].
pub(crate) fn check_statement(stmt: &Statement) -> Result<()> {
    match stmt {
        Statement::Statement(s) => match s.visit(&mut Shape::default()) {
            ControlFlow::Break(why) => Err(Error::Sql(format!(
                "the query is too complex: {why} (at most {MAX_DEPTH}); use IN (...) lists \
                 instead of long OR chains, or split the query"
            ))),
            ControlFlow::Continue(()) => Ok(()),
        },
        Statement::Explain(e) => check_statement(&e.statement),
        other => Err(Error::Sql(format!(
            "only queries are allowed, not `{}`",
            other.to_string().chars().take(60).collect::<String>()
        ))),
    }
}

#[derive(Default)]
struct Shape {
    depth: usize,
    queries: usize,
    tables: usize,
}

/// How many nesting levels an expression adds (field access chains expand to one call each).
fn weight(e: &Expr) -> usize {
    match e {
        Expr::CompoundFieldAccess { access_chain, .. } => 1 + access_chain.len(),
        Expr::CompoundIdentifier(parts) => parts.len(),
        _ => 1,
    }
}

impl Visitor for Shape {
    type Break = &'static str;

    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<Self::Break> {
        self.queries += 1;
        if self.queries > MAX_DEPTH {
            return ControlFlow::Break("too many subqueries");
        }
        // Checked here, before the visitor itself recurses down the chain.
        let mut chain = 0;
        let mut body = q.body.as_ref();
        while let SetExpr::SetOperation { left, .. } = body {
            chain += 1;
            if chain > MAX_DEPTH {
                return ControlFlow::Break("too many UNION/INTERSECT/EXCEPT in a row");
            }
            body = left;
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, _: &TableFactor) -> ControlFlow<Self::Break> {
        self.tables += 1;
        if self.tables > MAX_DEPTH {
            return ControlFlow::Break("too many tables");
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<Self::Break> {
        self.depth += weight(e);
        if self.depth > MAX_DEPTH {
            return ControlFlow::Break("expressions nested too deeply");
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, e: &Expr) -> ControlFlow<Self::Break> {
        self.depth -= weight(e);
        ControlFlow::Continue(())
    }
}
