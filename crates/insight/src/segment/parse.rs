//! The text form's parser: `or` binds loosest, then `and`, then `not`; parentheses
//! group. Every error names the column where the fault starts.

use super::attribute;
use super::{Comparison, Filter, Op, Value};

/// Why a filter's text does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct ParseError {
    /// 1-based, in characters.
    pub column: usize,
    pub message: String,
}

/// Reads a filter from its text form and validates it against the catalogue.
///
/// # Errors
/// The first fault, with its column.
pub fn parse(text: &str) -> Result<Filter, ParseError> {
    let tokens = lex(text)?;
    let mut parser = Parser { tokens, next: 0 };
    let filter = parser.or()?;
    match parser.peek() {
        (Token::End, _) => Ok(filter),
        (token, column) => Err(ParseError {
            column,
            message: format!("expected and, or, or the end, found {}", token.describe()),
        }),
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Name(String),
    Number(f64),
    Text(String),
    Op(Op),
    Open,
    Close,
    And,
    Or,
    Not,
    End,
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Name(n) => format!("{n:?}"),
            Token::Number(n) => format!("the number {n}"),
            Token::Text(t) => format!("the text {t:?}"),
            Token::Op(op) => format!("{:?}", op.as_str()),
            Token::Open => "\"(\"".into(),
            Token::Close => "\")\"".into(),
            Token::And => "and".into(),
            Token::Or => "or".into(),
            Token::Not => "not".into(),
            Token::End => "the end".into(),
        }
    }
}

/// Tokens with their 1-based columns.
fn lex(text: &str) -> Result<Vec<(Token, usize)>, ParseError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        let fail = |message: String| ParseError { column, message };
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let (token, len) = match c {
            '(' => (Token::Open, 1),
            ')' => (Token::Close, 1),
            '=' if chars.get(i + 1) == Some(&'=') => (Token::Op(Op::Eq), 2),
            '=' => (Token::Op(Op::Eq), 1),
            '!' if chars.get(i + 1) == Some(&'=') => (Token::Op(Op::Ne), 2),
            '<' if chars.get(i + 1) == Some(&'=') => (Token::Op(Op::Le), 2),
            '<' if chars.get(i + 1) == Some(&'>') => (Token::Op(Op::Ne), 2),
            '<' => (Token::Op(Op::Lt), 1),
            '>' if chars.get(i + 1) == Some(&'=') => (Token::Op(Op::Ge), 2),
            '>' => (Token::Op(Op::Gt), 1),
            '"' | '\'' => lex_text(&chars, i).map_err(fail)?,
            c if c.is_ascii_digit() || c == '-' || c == '.' => {
                lex_number(&chars, i).map_err(fail)?
            }
            c if c.is_alphabetic() => lex_name(&chars, i),
            other => return Err(fail(format!("unexpected {other:?}"))),
        };
        tokens.push((token, column));
        i += len;
    }
    tokens.push((Token::End, chars.len() + 1));
    Ok(tokens)
}

fn lex_text(chars: &[char], start: usize) -> Result<(Token, usize), String> {
    let quote = chars[start];
    let mut text = String::new();
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            '\\' if i + 1 < chars.len() => {
                text.push(chars[i + 1]);
                i += 2;
            }
            c if c == quote => return Ok((Token::Text(text), i + 1 - start)),
            c => {
                text.push(c);
                i += 1;
            }
        }
    }
    Err(format!("this text has no closing {quote}"))
}

fn lex_number(chars: &[char], start: usize) -> Result<(Token, usize), String> {
    let mut end = start + 1;
    while end < chars.len() && (chars[end].is_ascii_alphanumeric() || chars[end] == '.') {
        end += 1;
    }
    // Exponents carry a sign after the e.
    while end < chars.len()
        && matches!(chars[end], '+' | '-')
        && matches!(chars[end - 1], 'e' | 'E')
    {
        end += 1;
        while end < chars.len() && chars[end].is_ascii_digit() {
            end += 1;
        }
    }
    let word: String = chars[start..end].iter().collect();
    match word.parse::<f64>() {
        Ok(n) if n.is_finite() => Ok((Token::Number(n), end - start)),
        _ => Err(format!("{word:?} is not a number")),
    }
}

fn lex_name(chars: &[char], start: usize) -> (Token, usize) {
    let mut end = start;
    while end < chars.len() && (chars[end].is_alphanumeric() || matches!(chars[end], '_' | '.')) {
        end += 1;
    }
    let word: String = chars[start..end].iter().collect();
    let token = match word.to_ascii_lowercase().as_str() {
        "and" => Token::And,
        "or" => Token::Or,
        "not" => Token::Not,
        _ => Token::Name(word),
    };
    (token, end - start)
}

struct Parser {
    tokens: Vec<(Token, usize)>,
    next: usize,
}

impl Parser {
    fn peek(&self) -> (Token, usize) {
        self.tokens[self.next.min(self.tokens.len() - 1)].clone()
    }

    fn advance(&mut self) -> (Token, usize) {
        let token = self.peek();
        self.next += 1;
        token
    }

    fn or(&mut self) -> Result<Filter, ParseError> {
        let mut all = vec![self.and()?];
        while self.peek().0 == Token::Or {
            self.advance();
            all.push(self.and()?);
        }
        Ok(if all.len() == 1 {
            all.remove(0)
        } else {
            Filter::Or(all)
        })
    }

    fn and(&mut self) -> Result<Filter, ParseError> {
        let mut all = vec![self.unary()?];
        while self.peek().0 == Token::And {
            self.advance();
            all.push(self.unary()?);
        }
        Ok(if all.len() == 1 {
            all.remove(0)
        } else {
            Filter::And(all)
        })
    }

    fn unary(&mut self) -> Result<Filter, ParseError> {
        if self.peek().0 == Token::Not {
            self.advance();
            return Ok(Filter::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Filter, ParseError> {
        match self.advance() {
            (Token::Open, column) => {
                let inner = self.or()?;
                match self.advance() {
                    (Token::Close, _) => Ok(inner),
                    (token, at) => Err(ParseError {
                        column: at,
                        message: format!(
                            "expected \")\" to close the \"(\" at column {column}, found {}",
                            token.describe()
                        ),
                    }),
                }
            }
            (Token::Name(name), column) => self.condition(name, column),
            (token, column) => Err(ParseError {
                column,
                message: format!("expected a condition, found {}", token.describe()),
            }),
        }
    }

    /// `name op value`, or `name` alone for a yes-or-no attribute.
    fn condition(&mut self, name: String, column: usize) -> Result<Filter, ParseError> {
        let Token::Op(op) = self.peek().0 else {
            attribute::check_flag(&name).map_err(|message| ParseError { column, message })?;
            return Ok(Filter::Is(name));
        };
        self.advance();
        let (token, value_column) = self.advance();
        let value = match token {
            Token::Number(n) => Value::Number(n),
            Token::Text(t) => Value::Text(t),
            other => {
                return Err(ParseError {
                    column: value_column,
                    message: format!(
                        "expected a number or a quoted text after {}, found {}",
                        op.as_str(),
                        other.describe()
                    ),
                })
            }
        };
        attribute::check_comparison(&name, op, &value)
            .map_err(|message| ParseError { column, message })?;
        Ok(Filter::Compare(Comparison {
            attribute: name,
            op,
            value,
        }))
    }
}
