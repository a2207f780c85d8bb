//! Client against our own server over loopback TCP, for both framings.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use kaiwu_modbus::{
    Area, Bank, Client, Error, Framing, GATEWAY_TARGET_FAILED, ILLEGAL_DATA_ADDRESS, Server,
    SharedBank,
};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

const FRAMINGS: [Framing; 2] = [Framing::Tcp, Framing::RtuOverTcp];
/// Generous: only the timeout tests expect to hit their (separate, short) limit.
const TIMEOUT: Duration = Duration::from_secs(10);
const UNIT: u8 = 7;
const SIZE: usize = 2000;

struct Fixture {
    addr: String,
    bank: SharedBank,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn start(framing: Framing) -> Fixture {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr").to_string();
    let mut bank = Bank::new(SIZE);
    for i in 0..SIZE {
        bank.input[i] = i as u16;
        bank.holding[i] = 10_000 + i as u16;
        bank.coils[i] = i % 3 == 0;
        bank.discrete[i] = i % 2 == 0;
    }
    let bank = Arc::new(RwLock::new(bank));
    let units = HashMap::from([(UNIT, Arc::clone(&bank))]);
    let server = Server::spawn(listener, framing, units);
    Fixture { addr, bank, server }
}

#[tokio::test]
async fn reads_all_four_areas() {
    for framing in FRAMINGS {
        let fx = start(framing).await;
        let mut c = Client::connect(&fx.addr, framing, TIMEOUT).await.unwrap();
        let mut regs = Vec::new();
        c.read_registers(UNIT, Area::Input, 5, 3, &mut regs)
            .await
            .unwrap();
        assert_eq!(regs, [5, 6, 7]);
        c.read_registers(UNIT, Area::Holding, 1875, 125, &mut regs)
            .await
            .unwrap();
        assert_eq!(regs, (1875..2000).map(|i| 10_000 + i).collect::<Vec<u16>>());
        let mut bits = Vec::new();
        c.read_bits(UNIT, Area::Coil, 0, 10, &mut bits)
            .await
            .unwrap();
        assert_eq!(bits, (0..10).map(|i| i % 3 == 0).collect::<Vec<_>>());
        c.read_bits(UNIT, Area::Discrete, 0, 2000, &mut bits)
            .await
            .unwrap();
        assert_eq!(bits, (0..2000).map(|i| i % 2 == 0).collect::<Vec<_>>());
        // Many requests on one connection keep transaction ids and buffers straight.
        for i in 0..200u16 {
            c.read_registers(UNIT, Area::Input, i, 1, &mut regs)
                .await
                .unwrap();
            assert_eq!(regs, [i]);
        }
    }
}

#[tokio::test]
async fn writes_land_in_the_bank() {
    for framing in FRAMINGS {
        let fx = start(framing).await;
        let mut c = Client::connect(&fx.addr, framing, TIMEOUT).await.unwrap();
        c.write_coil(UNIT, 1, true).await.unwrap();
        c.write_register(UNIT, 2, 0xBEEF).await.unwrap();
        let regs: Vec<u16> = (0..123).map(|i| i * 3).collect();
        c.write_registers(UNIT, 100, &regs).await.unwrap();
        let coils: Vec<bool> = (0..1968).map(|i| i % 5 == 1).collect();
        c.write_coils(UNIT, 32, &coils).await.unwrap();
        c.write_coils(UNIT, 0, &[true, false, true]).await.unwrap();
        {
            let b = fx.bank.read().unwrap();
            assert!(b.coils[0] && !b.coils[1] && b.coils[2]);
            assert_eq!(&b.coils[32..2000], &coils[..]);
            assert_eq!(b.holding[2], 0xBEEF);
            assert_eq!(&b.holding[100..223], &regs[..]);
        }
        // Coils are read back as written through the client too.
        c.write_coil(UNIT, 1999, false).await.unwrap();
        let mut bits = Vec::new();
        c.read_bits(UNIT, Area::Coil, 1997, 3, &mut bits)
            .await
            .unwrap();
        assert_eq!(bits, [coils[1997 - 32], coils[1998 - 32], false]);
        c.write_coil(UNIT, 1999, true).await.unwrap();
        assert!(fx.bank.read().unwrap().coils[1999]);
    }
}

#[tokio::test]
async fn out_of_range_addresses_get_exception_02() {
    for framing in FRAMINGS {
        let fx = start(framing).await;
        let mut c = Client::connect(&fx.addr, framing, TIMEOUT).await.unwrap();
        let mut regs = Vec::new();
        let e = c
            .read_registers(UNIT, Area::Holding, 1990, 20, &mut regs)
            .await
            .unwrap_err();
        assert!(
            matches!(e, Error::Exception { function: 3, code } if code == ILLEGAL_DATA_ADDRESS),
            "{e}"
        );
        assert!(!e.is_connection());
        let e = c.write_register(UNIT, 2000, 1).await.unwrap_err();
        assert!(
            matches!(
                e,
                Error::Exception {
                    function: 6,
                    code: 2
                }
            ),
            "{e}"
        );
        let e = c.write_coils(UNIT, 1999, &[true, true]).await.unwrap_err();
        assert!(
            matches!(
                e,
                Error::Exception {
                    function: 15,
                    code: 2
                }
            ),
            "{e}"
        );
        // The connection stays usable after an exception.
        c.read_registers(UNIT, Area::Input, 0, 1, &mut regs)
            .await
            .unwrap();
        assert_eq!(regs, [0]);
    }
}

#[tokio::test]
async fn bad_arguments_are_refused_locally() {
    let fx = start(Framing::Tcp).await;
    let mut c = Client::connect(&fx.addr, Framing::Tcp, TIMEOUT)
        .await
        .unwrap();
    let mut regs = Vec::new();
    let mut bits = Vec::new();
    for e in [
        c.read_registers(UNIT, Area::Holding, 0, 0, &mut regs)
            .await
            .unwrap_err(),
        c.read_registers(UNIT, Area::Holding, 0, 126, &mut regs)
            .await
            .unwrap_err(),
        c.read_registers(UNIT, Area::Coil, 0, 1, &mut regs)
            .await
            .unwrap_err(),
        c.read_bits(UNIT, Area::Input, 0, 1, &mut bits)
            .await
            .unwrap_err(),
        c.read_bits(UNIT, Area::Coil, 65535, 2, &mut bits)
            .await
            .unwrap_err(),
        c.write_registers(UNIT, 0, &[0; 124]).await.unwrap_err(),
        c.write_registers(UNIT, 0, &[]).await.unwrap_err(),
        c.write_coils(UNIT, 0, &[false; 1969]).await.unwrap_err(),
    ] {
        assert!(matches!(e, Error::Invalid(_)), "{e}");
    }
    c.read_registers(UNIT, Area::Holding, 0, 1, &mut regs)
        .await
        .unwrap();
}

#[tokio::test]
async fn unknown_unit_over_tcp_gets_gateway_exception() {
    let fx = start(Framing::Tcp).await;
    let mut c = Client::connect(&fx.addr, Framing::Tcp, TIMEOUT)
        .await
        .unwrap();
    let mut regs = Vec::new();
    let e = c
        .read_registers(UNIT + 1, Area::Holding, 0, 1, &mut regs)
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Exception { function: 3, code } if code == GATEWAY_TARGET_FAILED),
        "{e}"
    );
}

#[tokio::test]
async fn unknown_unit_over_rtu_gets_no_answer() {
    let fx = start(Framing::RtuOverTcp).await;
    let timeout = Duration::from_millis(100);
    let mut c = Client::connect(&fx.addr, Framing::RtuOverTcp, timeout)
        .await
        .unwrap();
    let mut regs = Vec::new();
    let e = c
        .read_registers(UNIT + 1, Area::Holding, 0, 1, &mut regs)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Timeout(_)), "{e}");
    assert!(e.is_connection());
}

#[tokio::test]
async fn silent_peer_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let peer = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            // Read everything, answer nothing, keep the socket open.
            conns.spawn(async move {
                let mut buf = [0u8; 512];
                while s.read(&mut buf).await.is_ok_and(|n| n > 0) {}
            });
        }
    });
    for framing in FRAMINGS {
        let mut c = Client::connect(&addr, framing, Duration::from_millis(100))
            .await
            .unwrap();
        let mut regs = Vec::new();
        let e = c
            .read_registers(1, Area::Input, 0, 1, &mut regs)
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Timeout(_)), "{e}");
        assert!(e.is_connection());
    }
    peer.abort();
}

#[tokio::test]
async fn dropped_connection_is_io() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let peer = tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf).await;
            drop(s);
        }
    });
    for framing in FRAMINGS {
        let mut c = Client::connect(&addr, framing, TIMEOUT).await.unwrap();
        let e = c.write_register(1, 0, 1).await.unwrap_err();
        assert!(matches!(e, Error::Io(_)), "{e}");
        assert!(e.is_connection());
    }
    peer.abort();
}

#[tokio::test]
async fn aborting_the_server_closes_connections() {
    let fx = start(Framing::Tcp).await;
    let mut c = Client::connect(&fx.addr, Framing::Tcp, TIMEOUT)
        .await
        .unwrap();
    c.write_register(UNIT, 0, 1).await.unwrap();
    fx.server.abort();
    let _ = (&mut { fx }.server).await;
    let e = c.write_register(UNIT, 0, 2).await.unwrap_err();
    assert!(matches!(e, Error::Io(_)), "{e}");
}

#[tokio::test]
async fn connect_failures() {
    // Nothing listens on a port we just released.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    let e = Client::connect(&addr, Framing::Tcp, TIMEOUT)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Io(_)), "{e}");
    let e = Client::connect("not an address", Framing::Tcp, TIMEOUT)
        .await
        .unwrap_err();
    assert!(e.is_connection(), "{e}");
}

#[tokio::test]
async fn ipv6_loopback_when_available() {
    let Ok(listener) = TcpListener::bind("[::1]:0").await else {
        return; // No IPv6 on this machine.
    };
    let addr = format!("[::1]:{}", listener.local_addr().unwrap().port());
    let bank = Arc::new(RwLock::new(Bank::new(10)));
    let server = Server::spawn(listener, Framing::Tcp, HashMap::from([(1, bank)]));
    let mut c = Client::connect(&addr, Framing::Tcp, TIMEOUT).await.unwrap();
    c.write_register(1, 9, 42).await.unwrap();
    let mut regs = Vec::new();
    c.read_registers(1, Area::Holding, 9, 1, &mut regs)
        .await
        .unwrap();
    assert_eq!(regs, [42]);
    server.abort();
}

#[tokio::test]
async fn from_stream_over_a_duplex_pipe() {
    // The client does not care what carries the bytes; a canned RTU answer proves it.
    let (client_end, mut device) = tokio::io::duplex(512);
    let mut c = Client::from_stream(client_end, Framing::RtuOverTcp, TIMEOUT);
    let answer = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let mut req = [0u8; 8];
        device.read_exact(&mut req).await.unwrap();
        assert_eq!(req, [1, 3, 0, 0, 0, 1, 0x84, 0x0A]);
        let mut resp = vec![1, 3, 2, 0x12, 0x34];
        let crc = kaiwu_modbus::frame::crc16(&resp);
        resp.extend_from_slice(&crc.to_le_bytes());
        // Dribble the answer byte by byte: framing must not depend on read boundaries.
        for b in resp {
            device.write_all(&[b]).await.unwrap();
            device.flush().await.unwrap();
        }
        device
    });
    let mut regs = Vec::new();
    c.read_registers(1, Area::Holding, 0, 1, &mut regs)
        .await
        .unwrap();
    assert_eq!(regs, [0x1234]);
    drop(answer.await.unwrap());
}
