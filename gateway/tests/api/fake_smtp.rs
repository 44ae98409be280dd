//! A local SMTP server for the tests: it speaks enough of RFC 5321 for lettre (greeting, EHLO,
//! MAIL, RCPT, DATA, RSET, NOOP, QUIT), keeps every message it accepted, and can be told to
//! answer the next messages with a temporary (4xx) or permanent (5xx) refusal.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One message the server accepted.
#[derive(Debug, Clone)]
pub struct ReceivedEmail {
    pub from: String,
    pub to: Vec<String>,
    /// Headers and body as sent, dot-unstuffed.
    pub data: String,
}

impl ReceivedEmail {
    /// The value of a header (first occurrence, unfolded).
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next()?;
        let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
        unfolded.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
    }

    /// The body with quoted-printable soft breaks and escapes undone (enough for ASCII text).
    pub fn body(&self) -> String {
        let body = self
            .data
            .split_once("\r\n\r\n")
            .map(|(_, b)| b)
            .unwrap_or("");
        let quoted = self
            .header("Content-Transfer-Encoding")
            .is_some_and(|e| e.eq_ignore_ascii_case("quoted-printable"));
        if !quoted {
            return body.to_string();
        }
        let joined = body.replace("=\r\n", "");
        let mut out = String::new();
        let mut chars = joined.chars();
        while let Some(c) = chars.next() {
            if c == '=' {
                let hex: String = chars.by_ref().take(2).collect();
                match u8::from_str_radix(&hex, 16) {
                    Ok(b) => out.push(b as char),
                    Err(_) => {
                        out.push('=');
                        out.push_str(&hex);
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }
}

#[derive(Default)]
struct Shared {
    received: Vec<ReceivedEmail>,
    /// Replies to the next DATA commands' final answers, in order (e.g. "451 4.3.0 busy").
    refusals: VecDeque<String>,
}

pub struct FakeSmtp {
    pub port: u16,
    shared: Arc<Mutex<Shared>>,
}

impl FakeSmtp {
    pub async fn start() -> FakeSmtp {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let state = Arc::clone(&shared);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(session(stream, Arc::clone(&state)));
            }
        });
        FakeSmtp { port, shared }
    }

    /// What `SMTP_URL` should be to reach this server.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn received(&self) -> Vec<ReceivedEmail> {
        self.shared.lock().unwrap().received.clone()
    }

    /// The next message is refused with `reply` (e.g. "451 4.3.0 try later").
    pub fn refuse_next(&self, reply: &str) {
        self.shared
            .lock()
            .unwrap()
            .refusals
            .push_back(reply.to_string());
    }
}

async fn session(stream: TcpStream, shared: Arc<Mutex<Shared>>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    if write
        .write_all(b"220 fake-smtp ESMTP ready\r\n")
        .await
        .is_err()
    {
        return;
    }
    let mut from = String::new();
    let mut to = Vec::new();
    loop {
        let mut line = String::new();
        match lines.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let command = line.trim_end().to_string();
        let upper = command.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO") {
            "250-fake-smtp\r\n250 8BITMIME\r\n".into()
        } else if upper.starts_with("HELO") {
            "250 fake-smtp\r\n".into()
        } else if upper.starts_with("MAIL FROM:") {
            from = address(&command["MAIL FROM:".len()..]);
            to.clear();
            "250 2.1.0 ok\r\n".into()
        } else if upper.starts_with("RCPT TO:") {
            to.push(address(&command["RCPT TO:".len()..]));
            "250 2.1.5 ok\r\n".into()
        } else if upper == "DATA" {
            if write
                .write_all(b"354 end with <CRLF>.<CRLF>\r\n")
                .await
                .is_err()
            {
                return;
            }
            let mut data = String::new();
            loop {
                let mut line = String::new();
                match lines.read_line(&mut line).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                if line == ".\r\n" {
                    break;
                }
                let line = line.strip_prefix('.').unwrap_or(&line);
                data.push_str(line);
            }
            let mut shared = shared.lock().unwrap();
            match shared.refusals.pop_front() {
                Some(refusal) => format!("{refusal}\r\n"),
                None => {
                    shared.received.push(ReceivedEmail {
                        from: from.clone(),
                        to: to.clone(),
                        data: data.trim_end_matches("\r\n").to_string() + "\r\n",
                    });
                    "250 2.0.0 queued\r\n".into()
                }
            }
        } else if upper == "RSET" {
            from.clear();
            to.clear();
            "250 2.0.0 ok\r\n".into()
        } else if upper == "NOOP" {
            "250 2.0.0 ok\r\n".into()
        } else if upper == "QUIT" {
            let _ = write.write_all(b"221 2.0.0 bye\r\n").await;
            return;
        } else {
            "502 5.5.2 command not recognised\r\n".into()
        };
        if write.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

fn address(arg: &str) -> String {
    let arg = arg.trim();
    let inner = arg
        .strip_prefix('<')
        .and_then(|a| a.split_once('>'))
        .map(|(a, _)| a)
        .unwrap_or(arg);
    inner.to_string()
}
