//! Removing the VIPs from this node's interface through netlink (the
//! image has no `ip` binary): after keepalived or its VRRP process died,
//! at start (leftovers of a crash) and on exit.

use anyhow::{bail, Context, Result};
use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use std::net::IpAddr;

/// Every VIP with the interface it goes on.
#[derive(Debug, Clone)]
pub struct Vips(pub Vec<(IpAddr, String)>);

fn address_of(msg: &AddressMessage) -> Option<IpAddr> {
    // IPv4 puts the interface's own address in IFA_LOCAL, IPv6 in
    // IFA_ADDRESS.
    let local = msg.attributes.iter().find_map(|a| match a {
        AddressAttribute::Local(ip) => Some(*ip),
        _ => None,
    });
    local.or_else(|| {
        msg.attributes.iter().find_map(|a| match a {
            AddressAttribute::Address(ip) => Some(*ip),
            _ => None,
        })
    })
}

struct Netlink {
    socket: Socket,
    seq: u32,
}

impl Netlink {
    fn open() -> Result<Self> {
        let mut socket = Socket::new(NETLINK_ROUTE).context("cannot open a netlink socket")?;
        socket.bind_auto().context("cannot bind a netlink socket")?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .context("cannot connect a netlink socket")?;
        Ok(Netlink { socket, seq: 0 })
    }

    /// Sends one request, returns every message of the answer (up to
    /// Done for a dump, or the ack).
    fn request(
        &mut self,
        flags: u16,
        msg: RouteNetlinkMessage,
    ) -> Result<Vec<RouteNetlinkMessage>> {
        self.seq += 1;
        let mut header = NetlinkHeader::default();
        header.flags = flags;
        header.sequence_number = self.seq;
        let mut req = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        req.finalize();
        let mut buf = vec![0; req.header.length as usize];
        req.serialize(&mut buf[..]);
        self.socket.send(&buf, 0).context("netlink send")?;
        let mut out = Vec::new();
        let mut rx = vec![0u8; 64 * 1024];
        loop {
            let size = self
                .socket
                .recv(&mut &mut rx[..], 0)
                .context("netlink recv")?;
            let mut offset = 0;
            while offset < size {
                let msg: NetlinkMessage<RouteNetlinkMessage> =
                    NetlinkMessage::deserialize(&rx[offset..size])
                        .context("cannot parse a netlink answer")?;
                let len = msg.header.length as usize;
                if msg.header.sequence_number == self.seq {
                    match msg.payload {
                        NetlinkPayload::Done(_) => return Ok(out),
                        NetlinkPayload::Error(e) => {
                            return match e.code {
                                None => Ok(out), // an ack
                                Some(code) => Err(std::io::Error::from_raw_os_error(-code.get()))
                                    .context("netlink"),
                            };
                        }
                        NetlinkPayload::InnerMessage(m) => out.push(m),
                        _ => {}
                    }
                }
                if len == 0 {
                    break;
                }
                offset += len;
            }
        }
    }
}

impl Vips {
    fn find(&self) -> Result<Vec<(IpAddr, AddressMessage)>> {
        let mut wanted = Vec::new();
        for (ip, dev) in &self.0 {
            let index = nix::net::if_::if_nametoindex(dev.as_str())
                .with_context(|| format!("no interface {dev}"))?;
            wanted.push((*ip, index));
        }
        let mut nl = Netlink::open()?;
        let answer = nl.request(
            NLM_F_REQUEST | NLM_F_DUMP,
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
        )?;
        Ok(answer
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) => address_of(&a)
                    .filter(|ip| wanted.contains(&(*ip, a.header.index)))
                    .map(|ip| (ip, a)),
                _ => None,
            })
            .collect())
    }

    /// Removes every VIP from the interface; returns those that were there.
    pub fn remove(&self) -> Result<Vec<IpAddr>> {
        let found = self.find()?;
        if found.is_empty() {
            return Ok(Vec::new());
        }
        let mut nl = Netlink::open()?;
        let mut removed = Vec::new();
        let mut errors = Vec::new();
        for (ip, msg) in found {
            match nl.request(
                NLM_F_REQUEST | NLM_F_ACK,
                RouteNetlinkMessage::DelAddress(msg),
            ) {
                Ok(_) => removed.push(ip),
                // Gone meanwhile (keepalived removed it): fine.
                Err(e)
                    if e.downcast_ref::<std::io::Error>()
                        .and_then(|e| e.raw_os_error())
                        == Some(libc_eaddrnotavail()) => {}
                Err(e) => errors.push(format!("{ip}: {e:#}")),
            }
        }
        if !errors.is_empty() {
            bail!("cannot remove VIPs: {}", errors.join("; "));
        }
        Ok(removed)
    }

    /// Removes and logs; never fails the caller (we are cleaning up).
    pub fn remove_logged(&self, why: &str) {
        match self.remove() {
            Ok(removed) if removed.is_empty() => {}
            Ok(removed) => {
                let list: Vec<String> = removed.iter().map(|ip| ip.to_string()).collect();
                eprintln!("kubealived agent: removed {} ({why})", list.join(", "));
            }
            Err(e) => eprintln!("kubealived agent: {e:#} ({why})"),
        }
    }
}

fn libc_eaddrnotavail() -> i32 {
    nix::errno::Errno::EADDRNOTAVAIL as i32
}
