//! Name globs (`pr-*`, `DB_?`): stage rules and `custom.slsSecrets` scoping match names with
//! them. `*` is any run of characters, `?` one character, anything else itself.

/// `*` matches any run of characters, `?` one; everything else itself.
pub fn glob_matches(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    // Iterative matching with one backtrack point (the last `*`): names are short.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((star_p, star_n)) = star {
            pi = star_p + 1;
            ni = star_n + 1;
            star = Some((star_p, star_n + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_whole_names() {
        assert!(glob_matches("pr-*", "pr-42"));
        assert!(glob_matches("pr-*", "pr-"));
        assert!(!glob_matches("pr-*", "xpr-1"));
        assert!(glob_matches("*-preview", "a-b-preview"));
        assert!(glob_matches("pr-?", "pr-7"));
        assert!(!glob_matches("pr-?", "pr-77"));
        assert!(glob_matches("local", "local"));
        assert!(!glob_matches("local", "locals"));
        assert!(glob_matches("*a*b*", "xxaxxbxx"));
        assert!(!glob_matches("*a*b", "xxbxxa"));
    }
}
