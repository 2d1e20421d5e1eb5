//! How tokenmeter writes its figures for people, one way everywhere (the web app, `tokenmeter
//! report`, the tests that read what either shows): whole numbers with thousands separators,
//! money with six decimals below $1 and two from $1 up.

/// `1234567` → `1,234,567`.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `$0.000072`, `$12.35`.
pub fn money(amount: f64) -> String {
    if amount.abs() < 1.0 { format!("${amount:.6}") } else { format!("${amount:.2}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_group_by_thousands_and_money_keeps_its_precision() {
        assert_eq!([grouped(0), grouped(999), grouped(1000), grouped(1_234_567)], ["0", "999", "1,000", "1,234,567"]);
        assert_eq!(
            [money(0.0), money(0.000072), money(0.999_999), money(12.345)],
            ["$0.000000", "$0.000072", "$0.999999", "$12.35"]
        );
    }
}
