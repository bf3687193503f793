//! The pages in a real browser: headless Chromium driven over WebDriver (Debian's chromium and
//! chromium-driver, installed by `scripts/setup-race.sh`). Screenshots go to
//! `target/race-screenshots/` to be looked at.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{create, join, model, Server};
use fantoccini::{ClientBuilder, Locator};
use paddock_policy::model::Sensor;
use serde_json::json;

struct Driver(Child, u16);

impl Driver {
    fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver: run scripts/setup-race.sh (apt-get install chromium chromium-driver)");
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(start.elapsed() < Duration::from_secs(20), "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver(child, port)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn screenshot_dir() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().parent().unwrap().join("race-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_board_updates_live_the_upload_form_submits_and_markup_stays_text() {
    let server = Server::start();
    let driver = Driver::start();
    let (race, _admin, invite) = create(&server, json!({ "name": "Browser <em>race</em>" }));
    let ann = join(&server, &race, &invite, "ann");
    let model_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(model_file.path(), model(7, Sensor::Lidar)).unwrap();
    let shots = screenshot_dir();

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut caps = serde_json::Map::new();
        let profile = tempfile::tempdir().unwrap();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": "/usr/bin/chromium", "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1400,1000", format!("--user-data-dir={}", profile.path().display()),
            ] }),
        );
        // A browser's first start on a fresh machine can outlast chromedriver's patience: try again.
        let mut attempt = 0;
        let c = loop {
            attempt += 1;
            match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{}", driver.1))
                .await
            {
                Ok(c) => break c,
                Err(e) if attempt < 3 => eprintln!("no WebDriver session yet ({e}); trying again"),
                Err(e) => panic!("no WebDriver session: {e}"),
            }
        };
        let race_url = format!("{}/races/{race}", server.url);

        // The race's name with markup is shown as text.
        c.goto(&race_url).await.unwrap();
        let title = c.find(Locator::Css("h1")).await.unwrap().text().await.unwrap();
        assert_eq!(title, "Browser <em>race</em>");
        assert_eq!(c.find_all(Locator::Css("h1 em")).await.unwrap().len(), 0, "no element made of the name");
        let empty = c.find(Locator::Css("#board-rows")).await.unwrap().text().await.unwrap();
        assert!(empty.contains("No results yet"), "{empty}");
        c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("#live.on")).await.expect("the live badge lights up");

        // A result that arrives while the page is open shows up without a reload.
        c.execute("window.__same_page = true;", vec![]).await.unwrap();
        server.client(Some(&ann)).post_file(&format!("/api/races/{race}/submissions"), "ann.safetensors", &model(8, Sensor::Lidar)).unwrap();
        let row = c.wait().at_most(Duration::from_secs(60)).for_element(Locator::Css("#board-rows td.alias")).await.expect("the row arrives");
        assert_eq!(row.text().await.unwrap(), "ann");
        let same = c.execute("return window.__same_page === true && Number(document.body.dataset.updates) >= 1;", vec![]).await.unwrap();
        assert_eq!(same, json!(true), "updated in place, not reloaded");
        std::fs::write(shots.join("race.png"), c.screenshot().await.unwrap()).unwrap();

        // Join through the form with a markup alias, upload through the form.
        c.find(Locator::Css("input[name=invite_code]")).await.unwrap().send_keys(&invite).await.unwrap();
        c.find(Locator::Css("input[name=alias]")).await.unwrap().send_keys("<b>bo</b>").await.unwrap();
        c.find(Locator::Css("#join button")).await.unwrap().click().await.unwrap();
        c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("#upload")).await.expect("the racer's page");
        let heading = c.find(Locator::Css("h1")).await.unwrap().text().await.unwrap();
        assert!(heading.starts_with("<b>bo</b>"), "{heading}");
        c.find(Locator::Css("#upload input[type=file]")).await.unwrap().send_keys(model_file.path().to_str().unwrap()).await.unwrap();
        c.find(Locator::Css("#upload button")).await.unwrap().click().await.unwrap();
        let start = Instant::now();
        loop {
            let text = c.find(Locator::Css("#my-subs")).await.unwrap().text().await.unwrap();
            if text.contains("done") {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(60), "the upload was not evaluated: {text}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        std::fs::write(shots.join("racer.png"), c.screenshot().await.unwrap()).unwrap();

        // Both racers on the board; the markup alias is text there too.
        c.goto(&race_url).await.unwrap();
        let aliases: Vec<String> = {
            let mut v = Vec::new();
            for e in c.find_all(Locator::Css("#board-rows td.alias")).await.unwrap() {
                v.push(e.text().await.unwrap());
            }
            v
        };
        assert_eq!(aliases.len(), 2, "{aliases:?}");
        assert!(aliases.contains(&"<b>bo</b>".to_string()), "{aliases:?}");
        assert_eq!(c.find_all(Locator::Css("#board-rows b")).await.unwrap().len(), 0);

        // The submission page's replay draws.
        c.find(Locator::Css("#board-rows td.alias a")).await.unwrap().click().await.unwrap();
        c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("#replay-top")).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let drawn = c
            .execute("const d = document.getElementById('replay-top').getContext('2d').getImageData(0, 0, 720, 480).data; let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] > 200 && d[i+1] < 120) n++; return n;", vec![])
            .await
            .unwrap();
        assert!(drawn.as_u64().unwrap_or(0) > 20, "the car is drawn in red: {drawn}");
        std::fs::write(shots.join("submission.png"), c.screenshot().await.unwrap()).unwrap();
        c.close().await.unwrap();
    });
}
