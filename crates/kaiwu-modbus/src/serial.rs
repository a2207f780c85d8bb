//! Serial lines (RS-485/RS-232 adapters, `/dev/ttyUSB0`, `/dev/ttyS0`) for Modbus RTU: the
//! port in raw mode with the line settings of the bus, read and written without blocking.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use rustix::fs::{Mode, OFlags};
use rustix::termios::{self, ControlModes, OptionalActions, QueueSelector, SpecialCodeIndex};
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::unix::pipe;

/// Parity bit of the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Parity {
    /// No parity bit (usually with 2 stop bits, by the Modbus specification).
    None,
    /// Even parity: the Modbus specification's default.
    #[default]
    Even,
    /// Odd parity.
    Odd,
}

/// Line settings of a serial bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SerialSettings {
    /// Bits per second.
    #[serde(default = "baud")]
    pub baud: u32,
    /// Parity bit.
    #[serde(default)]
    pub parity: Parity,
    /// Data bits: 7 or 8 (RTU needs 8).
    #[serde(default = "eight")]
    pub data_bits: u8,
    /// Stop bits: 1 or 2.
    #[serde(default = "one")]
    pub stop_bits: u8,
}

fn baud() -> u32 {
    9600
}
fn eight() -> u8 {
    8
}
fn one() -> u8 {
    1
}

impl Default for SerialSettings {
    fn default() -> Self {
        SerialSettings {
            baud: baud(),
            parity: Parity::default(),
            data_bits: eight(),
            stop_bits: one(),
        }
    }
}

impl SerialSettings {
    /// Why these settings cannot carry Modbus RTU, if they cannot.
    pub fn check(&self) -> Result<(), String> {
        if !(50..=4_000_000).contains(&self.baud) {
            return Err(format!("baud {} is not 50..=4000000", self.baud));
        }
        if self.data_bits != 8 {
            return Err(format!("data_bits {} (Modbus RTU needs 8)", self.data_bits));
        }
        if !(1..=2).contains(&self.stop_bits) {
            return Err(format!("stop_bits {} is not 1 or 2", self.stop_bits));
        }
        Ok(())
    }

    /// The silence that separates RTU frames: 3.5 characters, and 1.75 ms above 19200 baud
    /// (as the Modbus over serial line specification fixes it).
    pub fn frame_gap(&self) -> Duration {
        if self.baud > 19_200 {
            return Duration::from_micros(1750);
        }
        let bits = 1
            + u64::from(self.data_bits)
            + u64::from(self.parity != Parity::None)
            + u64::from(self.stop_bits);
        Duration::from_micros(bits * 3_500_000 / u64::from(self.baud.max(1)))
    }
}

/// An open serial port: raw mode, the given line settings, non-blocking I/O on the runtime.
#[derive(Debug)]
pub struct SerialPort {
    // Two descriptors of the one open port, registered with the runtime as the two ends of
    // a byte pipe (which is what a tty is to the reactor), without unsafe code here.
    rx: pipe::Receiver,
    tx: pipe::Sender,
}

impl SerialPort {
    /// Opens `path` with `settings`; bytes already waiting on the line are discarded.
    /// Must be called inside a Tokio runtime.
    pub fn open(path: &str, settings: &SerialSettings) -> io::Result<SerialPort> {
        settings
            .check()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let fd = rustix::fs::open(
            path,
            OFlags::RDWR | OFlags::NOCTTY | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let mut t = termios::tcgetattr(&fd)?;
        t.make_raw();
        let mut c = t.control_modes;
        c.remove(
            ControlModes::CSIZE
                | ControlModes::PARENB
                | ControlModes::PARODD
                | ControlModes::CSTOPB
                | ControlModes::CRTSCTS,
        );
        c.insert(ControlModes::CS8 | ControlModes::CLOCAL | ControlModes::CREAD);
        match settings.parity {
            Parity::None => {}
            Parity::Even => c.insert(ControlModes::PARENB),
            Parity::Odd => c.insert(ControlModes::PARENB | ControlModes::PARODD),
        }
        if settings.stop_bits == 2 {
            c.insert(ControlModes::CSTOPB);
        }
        t.control_modes = c;
        // Non-blocking reads return what is there; readiness comes from the runtime.
        t.special_codes[SpecialCodeIndex::VMIN] = 0;
        t.special_codes[SpecialCodeIndex::VTIME] = 0;
        t.set_speed(settings.baud)?;
        termios::tcsetattr(&fd, OptionalActions::Now, &t)?;
        termios::tcflush(&fd, QueueSelector::IOFlush)?;
        let tx = rustix::io::dup(&fd)?;
        Ok(SerialPort {
            rx: pipe::Receiver::from_owned_fd_unchecked(fd)?,
            tx: pipe::Sender::from_owned_fd_unchecked(tx)?,
        })
    }
}

impl AsyncRead for SerialPort {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.rx).poll_read(cx, buf)
    }
}

impl AsyncWrite for SerialPort {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tx).poll_write(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Written bytes are with the driver; waiting for them to leave the wire (tcdrain)
        // would block a runtime thread.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_gap_follows_the_specification() {
        let s = SerialSettings::default(); // 9600 8E1: 11 bits a character
        assert_eq!(s.frame_gap(), Duration::from_micros(4010));
        let fast = SerialSettings { baud: 115_200, ..s };
        assert_eq!(fast.frame_gap(), Duration::from_micros(1750));
    }

    #[test]
    fn bad_settings_are_named() {
        let s = SerialSettings {
            data_bits: 7,
            ..SerialSettings::default()
        };
        assert!(s.check().unwrap_err().contains("data_bits 7"));
        let s = SerialSettings {
            stop_bits: 3,
            ..SerialSettings::default()
        };
        assert!(s.check().unwrap_err().contains("stop_bits"));
        let e = SerialPort::open("/nonexistent/tty", &SerialSettings::default());
        assert!(e.is_err());
    }

    /// The port is configured and carries bytes both ways, through a kernel pseudo-terminal.
    #[tokio::test]
    async fn bytes_cross_a_pty_both_ways() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let master =
            rustix::pty::openpt(rustix::pty::OpenptFlags::RDWR | rustix::pty::OpenptFlags::NOCTTY)
                .unwrap();
        rustix::pty::grantpt(&master).unwrap();
        rustix::pty::unlockpt(&master).unwrap();
        let name = rustix::pty::ptsname(&master, Vec::new()).unwrap();
        let mut port =
            SerialPort::open(name.to_str().unwrap(), &SerialSettings::default()).unwrap();
        port.write_all(b"\x01\x03\x00\x00").await.unwrap();
        let mut got = [0u8; 4];
        let mut master = std::fs::File::from(master);
        std::io::Read::read_exact(&mut master, &mut got).unwrap();
        assert_eq!(&got, b"\x01\x03\x00\x00");
        std::io::Write::write_all(&mut master, b"\xff\x00").unwrap();
        let mut back = [0u8; 2];
        tokio::time::timeout(Duration::from_secs(10), port.read_exact(&mut back))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(back, [0xff, 0x00]);
    }
}
