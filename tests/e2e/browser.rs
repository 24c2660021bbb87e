//! Headless Chromium for the console's tests, driven through chromedriver with fantoccini.
//! chromedriver runs on a free 127.0.0.1 port and is killed by its PID when the browser is
//! dropped. Without chromedriver the tests say so and pass, unless `KETENPOORT_REQUIRE_BROWSER`
//! is set, as `.ci/run` sets it.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use fantoccini::{Client, ClientBuilder, Locator, elements::Element};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

/// How long one browser test may take in all.
const TEST_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a page element may take to appear.
const ELEMENT_WAIT: Duration = Duration::from_secs(10);

/// Runs the browser part of a test, failing it when it takes longer than [`TEST_TIMEOUT`].
pub async fn within(test: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(TEST_TIMEOUT, test)
        .await
        .expect("the browser test took too long");
}

/// A headless Chromium session and the chromedriver behind it.
pub struct Browser {
    pub client: Client,
    base: String,
    driver: Child,
    driver_port: u16,
    /// The WebDriver session, until [`Browser::close`] ended it.
    session: Option<String>,
}

fn chromedriver() -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("chromedriver"))
            .find(|path| path.is_file())
    })
}

impl Browser {
    /// A browser pointed at the console on `port`, or `None` (with a notice) when there is no
    /// chromedriver and none is required.
    pub async fn open(port: u16) -> Option<Browser> {
        let Some(driver_path) = chromedriver() else {
            assert!(
                std::env::var_os("KETENPOORT_REQUIRE_BROWSER").is_none(),
                "KETENPOORT_REQUIRE_BROWSER is set but chromedriver is not on PATH: \
                 apt-get install chromium chromium-driver"
            );
            eprintln!(
                "console browser tests skipped: no chromedriver (apt-get install chromium chromium-driver)"
            );
            return None;
        };
        let driver_port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(driver_path)
            .arg(format!("--port={driver_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let browser_args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--window-size=1280,900",
            // The console in tests has a certificate of the test's own CA.
            "--ignore-certificate-errors",
            "--lang=en",
        ];
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "args": browser_args },
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let webdriver = format!("http://127.0.0.1:{driver_port}");
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(capabilities);
        let mut tries = 0;
        let client = loop {
            match builder.connect(&webdriver).await {
                Ok(client) => break client,
                // chromedriver takes a moment to listen.
                Err(_) if tries < 50 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("chromedriver did not start: {e}"),
            }
        };
        let session = client.session_id().await.unwrap();
        Some(Browser {
            client,
            base: format!("https://localhost:{port}"),
            driver,
            driver_port,
            session,
        })
    }

    /// Opens `path` of the console.
    pub async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap();
    }

    /// The path of the page shown.
    pub async fn path(&self) -> String {
        self.client.current_url().await.unwrap().path().to_string()
    }

    /// The element `css` selects, waiting for it a little.
    pub async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(ELEMENT_WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} on {}: {e}", self.base))
    }

    /// Clicks the button `css` selects and waits until the page it loads has replaced this one.
    pub async fn submit(&self, css: &str) {
        let old = self.find("html").await;
        self.find(css).await.click().await.unwrap();
        let deadline = tokio::time::Instant::now() + ELEMENT_WAIT;
        // The old page's root goes stale once the new page is there.
        while old.tag_name().await.is_ok() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{css} loaded no page"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.find("body").await;
    }

    /// Every element `css` selects.
    pub async fn all(&self, css: &str) -> Vec<Element> {
        self.client.find_all(Locator::Css(css)).await.unwrap()
    }

    /// The text of the element `css` selects.
    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap()
    }

    /// The console's session cookie as a `Cookie` header value, to send requests outside
    /// the browser in its session.
    pub async fn session_cookie(&self) -> String {
        let name = "__Host-ketenpoort-session";
        let session = self.client.get_named_cookie(name).await.unwrap();
        format!("{name}={}", session.value())
    }

    /// Writes a screenshot of the page to `$KETENPOORT_SCREENSHOTS/name.png` when that is set.
    pub async fn screenshot(&self, name: &str) {
        if let Some(dir) = std::env::var_os("KETENPOORT_SCREENSHOTS") {
            let png = self.client.screenshot().await.unwrap();
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(PathBuf::from(dir).join(format!("{name}.png")), png).unwrap();
        }
    }

    /// Ends the browser session and chromedriver.
    pub async fn close(mut self) {
        let client = self.client.clone();
        if tokio::time::timeout(Duration::from_secs(10), client.close())
            .await
            .is_ok_and(|closed| closed.is_ok())
        {
            self.session = None;
        }
    }

    /// Ends the WebDriver session with a plain blocking request, so that chromedriver quits
    /// Chromium also when a test panicked before [`Browser::close`].
    fn delete_session(&mut self) {
        let Some(session) = self.session.take() else {
            return;
        };
        let Ok(mut tcp) = std::net::TcpStream::connect(("127.0.0.1", self.driver_port)) else {
            return;
        };
        let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
        let request = format!(
            "DELETE /session/{session} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        );
        if std::io::Write::write_all(&mut tcp, request.as_bytes()).is_ok() {
            let _ = std::io::Read::read_to_end(&mut tcp, &mut Vec::new());
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // After `close`, or when a test panics: the session, then chromedriver by its PID.
        self.delete_session();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
