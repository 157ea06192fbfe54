//! Asking the user: the passphrase of an SSH key or of an age-encrypted identity file, and what
//! an age plugin asks for. Only ever on the terminal (`/dev/tty`), never from the environment
//! or stdin, so a passphrase can't end up in a script, a CI variable or a pipe.

use std::io::{BufRead, Write};

use age::secrecy::SecretString;

/// Whether there is a terminal to ask on (the process has a controlling terminal).
pub fn has_terminal() -> bool {
    #[cfg(unix)]
    {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .is_ok()
    }
    #[cfg(not(unix))]
    {
        use std::io::IsTerminal;
        std::io::stdin().is_terminal()
    }
}

/// age's [`Callbacks`](age::Callbacks) on the terminal: messages go to stderr, questions to
/// the terminal. Without a terminal every question is unanswered (`None`), which age and the
/// plugins treat as "can't ask".
#[derive(Clone)]
pub(crate) struct Terminal {
    /// Whether to ask at all; false when there was no terminal when the identities were loaded.
    pub ask: bool,
    /// Tests answer every passphrase request with this instead of the terminal.
    #[cfg(test)]
    pub answer: Option<&'static str>,
}

impl Terminal {
    pub(crate) fn new(ask: bool) -> Terminal {
        Terminal {
            ask,
            #[cfg(test)]
            answer: None,
        }
    }

    /// A terminal that answers every passphrase request with `answer` (tests).
    #[cfg(test)]
    pub(crate) fn answering(answer: Option<&'static str>) -> Terminal {
        Terminal { ask: true, answer }
    }

    /// A line typed on the terminal, shown as typed (not secret).
    fn read_line(&self, prompt: &str) -> Option<String> {
        if !self.ask {
            return None;
        }
        let tty = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(tty_path())
            .ok()?;
        let mut out = &tty;
        out.write_all(prompt.as_bytes()).ok()?;
        out.flush().ok()?;
        let mut line = String::new();
        std::io::BufReader::new(&tty).read_line(&mut line).ok()?;
        Some(line.trim_end_matches(['\r', '\n']).to_owned())
    }
}

fn tty_path() -> &'static str {
    if cfg!(windows) { "CONIN$" } else { "/dev/tty" }
}

impl age::Callbacks for Terminal {
    fn display_message(&self, message: &str) {
        eprintln!("sls-secrets: {message}");
    }

    fn confirm(&self, message: &str, yes_string: &str, no_string: Option<&str>) -> Option<bool> {
        let choices = match no_string {
            Some(no) => format!("[{yes_string}/{no}]"),
            None => format!("[{yes_string}]"),
        };
        let answer = self.read_line(&format!("{message} {choices}: "))?;
        Some(answer.trim().is_empty() || answer.trim().eq_ignore_ascii_case(yes_string))
    }

    fn request_public_string(&self, description: &str) -> Option<String> {
        self.read_line(&format!("{description} "))
    }

    fn request_passphrase(&self, description: &str) -> Option<SecretString> {
        #[cfg(test)]
        if let Some(answer) = self.answer {
            return Some(SecretString::from(answer.to_owned()));
        }
        if !self.ask {
            return None;
        }
        // rpassword reads from /dev/tty with echo off; a failure (no terminal, Ctrl-D) is
        // "no passphrase".
        let pass = rpassword::prompt_password(format!("{description} ")).ok()?;
        Some(SecretString::from(pass))
    }
}
