//! Asking the user: the passphrase of an SSH key or of an age-encrypted identity file, and what
//! an age plugin asks for. Only ever on the terminal (`/dev/tty`), never from the environment
//! or stdin, so a passphrase can't end up in a script, a CI variable or a pipe.

use std::io::{BufRead, Read, Write};

use age::secrecy::SecretString;
use zeroize::Zeroizing;

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
        // A failure (no terminal, Ctrl-D) is "no passphrase".
        let pass = read_hidden(&format!("{description} ")).ok()??;
        Some(SecretString::from(pass.to_string()))
    }
}

/// Reads a line typed on the terminal (`/dev/tty`) with echo off: `Ok(None)` for Ctrl-D on an
/// empty line. On Ctrl-C the terminal is restored first and then the process is interrupted
/// as Ctrl-C would (rpassword raises SIGINT while echo is still off, leaving the shell blind).
#[cfg(unix)]
pub fn read_hidden(prompt: &str) -> std::io::Result<Option<Zeroizing<String>>> {
    use rustix::termios::{LocalModes, OptionalActions, SpecialCodeIndex, tcgetattr, tcsetattr};
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(tty_path())?;
    let saved = tcgetattr(&tty)?;
    let mut quiet = saved.clone();
    // No echo, byte by byte, and Ctrl-C as a byte, so that it is seen here.
    quiet.local_modes -= LocalModes::ECHO | LocalModes::ICANON | LocalModes::ISIG;
    quiet.special_codes[SpecialCodeIndex::VMIN] = 1;
    quiet.special_codes[SpecialCodeIndex::VTIME] = 0;
    let typed = {
        // Restored however the read ends, a panic included.
        let _restore = Restore {
            tty: &tty,
            saved: &saved,
        };
        tcsetattr(&tty, OptionalActions::Now, &quiet)?;
        // The prompt only once keys are read here: a Ctrl-C typed on seeing it must reach
        // this reader, not interrupt the whole foreground group.
        (&tty).write_all(prompt.as_bytes())?;
        typed_line(&tty)
    };
    let _ = (&tty).write_all(b"\n");
    match typed {
        Typed::Line(bytes) => String::from_utf8(bytes.to_vec())
            .map(|text| Some(Zeroizing::new(text)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8")),
        Typed::End => Ok(None),
        Typed::Interrupt => {
            // Die of SIGINT as Ctrl-C would, even where SIGINT was inherited ignored (a job
            // started with `&` by a script): the default action, then the signal.
            let _ = signal_hook::low_level::emulate_default_handler(signal_hook::consts::SIGINT);
            Err(std::io::ErrorKind::Interrupted.into())
        }
    }
}

#[cfg(not(unix))]
pub fn read_hidden(prompt: &str) -> std::io::Result<Option<Zeroizing<String>>> {
    rpassword::prompt_password(prompt).map(|text| Some(Zeroizing::new(text)))
}

#[cfg(unix)]
struct Restore<'a> {
    tty: &'a std::fs::File,
    saved: &'a rustix::termios::Termios,
}

#[cfg(unix)]
impl Drop for Restore<'_> {
    fn drop(&mut self) {
        let now = rustix::termios::OptionalActions::Now;
        let _ = rustix::termios::tcsetattr(self.tty, now, self.saved);
    }
}

/// How typing a hidden line ended.
#[cfg_attr(not(unix), allow(dead_code))]
enum Typed {
    Line(Zeroizing<Vec<u8>>),
    /// Ctrl-D on an empty line, end of input, or a read error.
    End,
    /// Ctrl-C.
    Interrupt,
}

/// The line typed, with backspace, Ctrl-U and arrow keys (ignored) handled as a terminal's
/// line editing would. The bytes are wiped when dropped, also when the buffer grows.
#[cfg_attr(not(unix), allow(dead_code))]
fn typed_line(mut input: impl Read) -> Typed {
    let mut line = Zeroizing::new(Vec::with_capacity(128));
    let mut byte = Zeroizing::new([0u8; 1]);
    // 1 after ESC, 2 inside an escape sequence (`ESC [ … final`).
    let mut escape = 0;
    loop {
        match input.read(&mut byte[..]) {
            Ok(0) if line.is_empty() => return Typed::End,
            Ok(0) => return Typed::Line(line),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return Typed::End,
        }
        let b = byte[0];
        if escape == 1 {
            escape = if matches!(b, b'[' | b'O') { 2 } else { 0 };
            continue;
        }
        if escape == 2 {
            escape = if (0x40..=0x7e).contains(&b) { 0 } else { 2 };
            continue;
        }
        match b {
            b'\r' | b'\n' => return Typed::Line(line),
            0x03 => return Typed::Interrupt,
            0x04 if line.is_empty() => return Typed::End,
            0x1b => escape = 1,
            0x7f | 0x08 => {
                // The whole last character, however many bytes its UTF-8 has.
                while line.pop().is_some_and(|b| b & 0xc0 == 0x80) {}
            }
            0x15 => line.clear(),
            b if b < 0x20 => {}
            b => {
                if line.len() == line.capacity() {
                    let mut bigger = Zeroizing::new(Vec::with_capacity(line.capacity() * 2));
                    bigger.extend_from_slice(&line);
                    line = bigger;
                }
                line.push(b);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(input: &[u8]) -> Option<String> {
        match typed_line(input) {
            Typed::Line(bytes) => Some(String::from_utf8(bytes.to_vec()).unwrap()),
            Typed::End => None,
            Typed::Interrupt => Some("^C".into()),
        }
    }

    #[test]
    fn line_editing_of_a_hidden_line() {
        assert_eq!(typed(b"ab\x7fc\n").as_deref(), Some("ac"));
        assert_eq!(typed("pé\x7f\x7fx\r".as_bytes()).as_deref(), Some("x"));
        assert_eq!(typed(b"junk\x15pw\x1b[Ax\n").as_deref(), Some("pwx"));
        assert_eq!(typed(b"secret\x03more\n").as_deref(), Some("^C"));
        assert_eq!(typed(b"\x04").as_deref(), None);
        assert_eq!(typed(b"").as_deref(), None);
        let long = "x".repeat(1000);
        assert_eq!(typed(format!("{long}\n").as_bytes()), Some(long));
    }
}
