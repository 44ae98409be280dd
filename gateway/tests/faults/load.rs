//! Signed inbound webhooks at a steady pace from a few senders, to whichever gateway process is
//! the target when each is sent (a test switches it after a restart), until stopped or a set
//! number is sent; then Twilio's retries (`#rc=3&rp=all`) and the answers of every webhook.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::fixtures::{self, Answers, post_inbound, retry_like_twilio, sid};

pub struct Load {
    answers: Arc<Mutex<Answers>>,
    stop: Arc<AtomicBool>,
    senders: Vec<tokio::task::JoinHandle<()>>,
    numbers: Arc<Vec<String>>,
    limit: Option<usize>,
    /// The address webhooks go to.
    pub target: Arc<RwLock<String>>,
}

impl Load {
    /// `senders` senders, each pausing `pause` between requests, texting from `numbers` in
    /// turn; at most `limit` webhooks in all.
    pub fn start(
        address: &str,
        numbers: Vec<String>,
        senders: usize,
        pause: Duration,
        limit: Option<usize>,
    ) -> Load {
        let answers: Arc<Mutex<Answers>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let next = Arc::new(AtomicUsize::new(0));
        let numbers = Arc::new(numbers);
        let target = Arc::new(RwLock::new(address.to_string()));
        let handles = (0..senders)
            .map(|_| {
                let (answers, stop, next, numbers, target) = (
                    Arc::clone(&answers),
                    Arc::clone(&stop),
                    Arc::clone(&next),
                    Arc::clone(&numbers),
                    Arc::clone(&target),
                );
                tokio::spawn(async move {
                    // Twilio gives a webhook 15 s before it counts as failed.
                    let client = fixtures::client(Duration::from_secs(15));
                    while !stop.load(Ordering::SeqCst) {
                        let n = next.fetch_add(1, Ordering::SeqCst);
                        if limit.is_some_and(|limit| n >= limit) {
                            return;
                        }
                        let address = target.read().unwrap().clone();
                        let from = &numbers[n % numbers.len()];
                        let text = format!("hello {n}");
                        let status = post_inbound(&client, &address, &sid(n), from, &text).await;
                        answers
                            .lock()
                            .unwrap()
                            .entry(sid(n))
                            .or_default()
                            .push(status);
                        tokio::time::sleep(pause).await;
                    }
                })
            })
            .collect();
        Load {
            answers,
            stop,
            senders: handles,
            numbers,
            limit,
            target,
        }
    }

    /// Webhooks sent so far.
    pub fn sent(&self) -> usize {
        self.answers.lock().unwrap().len()
    }

    /// Webhooks whose answers include `status` (`None`: no answer within 15 s).
    pub fn count(&self, status: Option<u16>) -> usize {
        self.answers
            .lock()
            .unwrap()
            .values()
            .filter(|got| got.contains(&status))
            .count()
    }

    /// Stops sending (or waits for the limit), then retries as Twilio does; returns every
    /// answer and how many webhooks had none but a 200 before the retries.
    pub async fn finish(self) -> (Answers, usize) {
        if self.limit.is_none() {
            self.stop.store(true, Ordering::SeqCst);
        }
        for sender in self.senders {
            sender.await.unwrap();
        }
        let mut answers = Arc::try_unwrap(self.answers).unwrap().into_inner().unwrap();
        let retried = answers
            .values()
            .filter(|got| !got.contains(&Some(200)))
            .count();
        let numbers = self.numbers;
        let from_of = |sid: &str| {
            let n = usize::from_str_radix(&sid[2..], 16).unwrap();
            numbers[n % numbers.len()].clone()
        };
        let address = self.target.read().unwrap().clone();
        retry_like_twilio(
            &fixtures::client(Duration::from_secs(15)),
            &address,
            &mut answers,
            from_of,
        )
        .await;
        (answers, retried)
    }
}
