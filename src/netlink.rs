//! rtnetlink, the kernel's door to addresses, without `ip`: the one place
//! that speaks it. The host module lists addresses with it (by device
//! index, so address labels never pass for interfaces) and the agent
//! removes VIPs with it (the image has no `ip` binary).

use anyhow::{Context, Result};
use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use std::net::IpAddr;

/// The address an RTM_NEWADDR message is about: IPv4 keeps it in
/// IFA_LOCAL (IFA_ADDRESS is the peer on point-to-point links), IPv6 in
/// IFA_ADDRESS.
pub fn address_of(msg: &AddressMessage) -> Option<IpAddr> {
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

pub struct Netlink {
    socket: Socket,
    seq: u32,
}

impl Netlink {
    pub fn open() -> Result<Self> {
        let mut socket = Socket::new(NETLINK_ROUTE).context("cannot open a netlink socket")?;
        socket.bind_auto().context("cannot bind a netlink socket")?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .context("cannot connect a netlink socket")?;
        Ok(Netlink { socket, seq: 0 })
    }

    /// Sends one request, returns every message of the answer (up to
    /// Done for a dump, or the ack).
    pub fn request(
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

/// Every address of this network namespace (RTM_GETADDR), in the order
/// the kernel lists them (primary before secondary).
pub fn addresses() -> Result<Vec<AddressMessage>> {
    let answer = Netlink::open()?
        .request(
            NLM_F_REQUEST | NLM_F_DUMP,
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
        )
        .context("cannot list addresses")?;
    Ok(answer
        .into_iter()
        .filter_map(|m| match m {
            RouteNetlinkMessage::NewAddress(a) => Some(a),
            _ => None,
        })
        .collect())
}

/// Removes one address (as [`addresses`] listed it). Ok(false) when it was
/// gone already.
pub fn delete_address(nl: &mut Netlink, address: AddressMessage) -> Result<bool> {
    match nl.request(
        NLM_F_REQUEST | NLM_F_ACK,
        RouteNetlinkMessage::DelAddress(address),
    ) {
        Ok(_) => Ok(true),
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .and_then(|e| e.raw_os_error())
                == Some(nix::errno::Errno::EADDRNOTAVAIL as i32) =>
        {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}
