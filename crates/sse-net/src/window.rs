//! The peer's TCP receive window, as the kernel last heard it (`TCP_INFO`).
//!
//! The one module of this crate with `unsafe`: `getsockopt(TCP_INFO)` has no safe
//! wrapper in `socket2` or `rustix`. Elsewhere (and on kernels older than 5.4,
//! which lack `tcpi_snd_wnd`) there is no sample, and callers keep their
//! portable rule.

/// What the kernel knows about the peer's side of a TCP connection we write to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// The room the peer last advertised for more bytes (`tcpi_snd_wnd`): its
    /// receive buffer's free space, so it narrows while bytes sit there unread.
    pub window: u32,
    /// How many bytes the peer has acknowledged (`tcpi_bytes_acked`, counting the
    /// connection's opening as one): it has them, read or not. Only differences
    /// between samples mean anything.
    pub acked: u64,
    /// The window's unit (`1 << tcpi_snd_wscale`): the peer advertises multiples
    /// of it, so smaller changes do not show.
    pub grain: u32,
}

/// The peer's window on the TCP socket `fd`; `None` when the kernel does not say
/// (not Linux, a kernel before 5.4, or not a TCP socket).
#[cfg(unix)]
#[must_use]
pub fn peer_window(fd: std::os::fd::BorrowedFd<'_>) -> Option<Window> {
    linux::peer_window(fd)
}

#[cfg(all(unix, not(target_os = "linux")))]
mod linux {
    pub(super) fn peer_window(_fd: std::os::fd::BorrowedFd<'_>) -> Option<super::Window> {
        None
    }
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
mod linux {
    use std::mem::{MaybeUninit, offset_of, size_of};
    use std::os::fd::{AsRawFd, BorrowedFd};

    use super::Window;

    pub(super) fn peer_window(fd: BorrowedFd<'_>) -> Option<Window> {
        let mut info = MaybeUninit::<libc::tcp_info>::zeroed();
        let mut len = libc::socklen_t::try_from(size_of::<libc::tcp_info>()).ok()?;
        // SAFETY: `fd` is a descriptor borrowed for this call, so it stays open
        // while the kernel reads it. `info` is a zeroed `tcp_info` (plain integers:
        // every bit pattern is valid) of `len` bytes, and the kernel writes at most
        // `len` bytes to it, setting `len` to how many it wrote. A descriptor that is
        // not a TCP socket makes the call fail; nothing is read then.
        let status = unsafe {
            libc::getsockopt(
                fd.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_INFO,
                info.as_mut_ptr().cast(),
                &mut len,
            )
        };
        if status != 0 {
            return None;
        }
        // SAFETY: zeroed above and written by the kernel: initialized either way.
        let info = unsafe { info.assume_init() };
        // A kernel before 5.4 writes a shorter struct, without the window.
        let written = usize::try_from(len).ok()?;
        if written < offset_of!(libc::tcp_info, tcpi_snd_wnd) + size_of::<u32>() {
            return None;
        }
        Some(Window {
            window: info.tcpi_snd_wnd,
            acked: info.tcpi_bytes_acked,
            grain: 1 << (info.tcpi_snd_rcv_wscale & 0x0f).min(14),
        })
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsFd;

    use super::*;

    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let near = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (far, _) = listener.accept().expect("accept");
        (near, far)
    }

    #[test]
    fn a_tcp_socket_reports_its_peers_window_and_what_it_acknowledged() {
        let (mut near, mut far) = pair();
        let before = peer_window(near.as_fd()).expect("TCP_INFO").acked;
        near.write_all(&[7; 1000]).expect("write");
        let mut got = [0; 1000];
        far.read_exact(&mut got).expect("read");
        // The peer acknowledges what it has read; loopback answers at once, but
        // give it the time a loaded machine might need.
        let mut window = peer_window(near.as_fd()).expect("TCP_INFO");
        for _ in 0..100 {
            if window.acked - before == 1000 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
            window = peer_window(near.as_fd()).expect("TCP_INFO");
        }
        assert_eq!(window.acked - before, 1000);
        assert!(window.window > 0, "{window:?}");
        assert!(window.grain.is_power_of_two(), "{window:?}");
    }

    #[test]
    fn not_a_tcp_socket_has_no_window() {
        let (a, _b) = std::os::unix::net::UnixStream::pair().expect("pair");
        assert_eq!(peer_window(a.as_fd()), None);
    }
}
