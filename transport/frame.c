/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smx frames: headers built in place in a memif buffer, parsed in place.
 * Plain byte stores (no struct overlays): buffers are only 1-byte aligned
 * at the IP header (Ethernet is 14 bytes).
 */
#include <errno.h>
#include <string.h>
#include "frame.h"

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

/* IPs are kept in network order: copy their bytes as they are. */
static void put_ip(uint8_t *p, uint32_t ip_be)
{
	memcpy(p, &ip_be, 4);
}

static uint32_t get_ip(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint16_t ip4_cksum(const uint8_t *h)
{
	uint32_t sum = 0;
	int i;

	for (i = 0; i < SMX_IP4_LEN; i += 2)
		sum += get16(h + i);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

void smx_frame_build(uint8_t *b, const struct smx_frame_addr *a,
		     const struct smx_frame_hdr *h, uint32_t payload_len)
{
	uint8_t *ip = b + SMX_ETH_LEN;
	uint8_t *udp = ip + SMX_IP4_LEN;
	uint8_t *w = udp + SMX_UDP_LEN;
	uint32_t ulen = SMX_UDP_LEN + SMX_WIRE_LEN + payload_len;

	memcpy(b, a->dst_mac, 6);
	memcpy(b + 6, a->src_mac, 6);
	put16(b + 12, 0x0800);

	ip[0] = 0x45;
	ip[1] = 0;
	put16(ip + 2, (uint16_t)(SMX_IP4_LEN + ulen));
	put16(ip + 4, 0);		/* id: DF set, never fragmented */
	put16(ip + 6, 0x4000);
	ip[8] = 64;
	ip[9] = 17;
	put16(ip + 10, 0);
	put_ip(ip + 12, a->src_ip);
	put_ip(ip + 16, a->dst_ip);
	put16(ip + 10, ip4_cksum(ip));

	put16(udp, a->src_port);
	put16(udp + 2, a->dst_port);
	put16(udp + 4, (uint16_t)ulen);
	put16(udp + 6, 0);		/* no checksum (allowed for UDP over IPv4) */

	put16(w, SMX_MAGIC);
	w[2] = SMX_VERSION;
	w[3] = h->type;
	w[4] = h->flags;
	w[5] = 0;
	put16(w + 6, 0);
	put32(w + 8, h->src_session);
	put32(w + 12, h->dst_session);
	put64(w + 16, h->seq);
	put64(w + 24, h->ack);
	put64(w + 32, h->wnd);
}

int smx_frame_parse(const uint8_t *b, uint32_t len, uint32_t frame_len,
		    struct smx_frame_info *fi)
{
	const uint8_t *ip, *udp, *w;
	uint32_t ihl, tl, ulen;
	uint16_t et;

	if (len < SMX_ETH_LEN || len > frame_len)
		return -EBADMSG;
	et = get16(b + 12);
	if (et == 0x0806)
		return 1;
	if (et != 0x0800)
		return 2;
	if (len < SMX_ETH_LEN + SMX_IP4_LEN)
		return -EBADMSG;
	ip = b + SMX_ETH_LEN;
	ihl = (ip[0] & 0xfu) * 4;
	tl = get16(ip + 2);
	if ((ip[0] >> 4) != 4 || ihl < SMX_IP4_LEN || tl < ihl ||
	    tl > frame_len - SMX_ETH_LEN)
		return -EBADMSG;
	if (ip[9] != 17)
		return 2;
	/* A fragment cannot be ours: we never send them (DF). */
	if (get16(ip + 6) & 0x3fff)
		return 2;
	if (len < SMX_ETH_LEN + ihl + SMX_UDP_LEN + SMX_WIRE_LEN)
		return tl < ihl + SMX_UDP_LEN + SMX_WIRE_LEN ? 2 : -EBADMSG;
	udp = ip + ihl;
	ulen = get16(udp + 4);
	if (ulen < SMX_UDP_LEN || ulen > tl - ihl)
		return -EBADMSG;
	w = udp + SMX_UDP_LEN;
	if (ulen < SMX_UDP_LEN + SMX_WIRE_LEN || get16(w) != SMX_MAGIC)
		return 2;
	if (w[2] != SMX_VERSION || (w[3] != SMX_T_DATA && w[3] != SMX_T_ACK))
		return -EBADMSG;
	/* Payload is read from SMX_HDRS_LEN on: IP options would move it. */
	if (ihl != SMX_IP4_LEN)
		return -EBADMSG;
	fi->src_ip = get_ip(ip + 12);
	fi->dst_ip = get_ip(ip + 16);
	fi->src_port = get16(udp);
	fi->dst_port = get16(udp + 2);
	fi->payload_len = ulen - SMX_UDP_LEN - SMX_WIRE_LEN;
	fi->h.type = w[3];
	fi->h.flags = w[4];
	fi->h.src_session = get32(w + 8);
	fi->h.dst_session = get32(w + 12);
	fi->h.seq = get64(w + 16);
	fi->h.ack = get64(w + 24);
	fi->h.wnd = get64(w + 32);
	if (fi->h.type == SMX_T_ACK && fi->payload_len != 0)
		return -EBADMSG;
	return 0;
}

uint32_t smx_frame_arp_request(uint8_t *b, const uint8_t mac[6], uint32_t sip,
			       uint32_t tip)
{
	uint8_t *a = b + SMX_ETH_LEN;

	memset(b, 0xff, 6);
	memcpy(b + 6, mac, 6);
	put16(b + 12, 0x0806);
	put16(a, 1);		/* Ethernet */
	put16(a + 2, 0x0800);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, 1);	/* request */
	memcpy(a + 8, mac, 6);
	put_ip(a + 14, sip);
	memset(a + 18, 0, 6);
	put_ip(a + 24, tip);
	return SMX_ARP_LEN;
}

bool smx_frame_arp_reply(const uint8_t *b, uint32_t len, uint32_t sip,
			 uint8_t mac[6])
{
	const uint8_t *a = b + SMX_ETH_LEN;

	if (len < SMX_ARP_LEN || get16(b + 12) != 0x0806 || get16(a) != 1 ||
	    get16(a + 2) != 0x0800 || a[4] != 6 || a[5] != 4 ||
	    get16(a + 6) != 2 || get_ip(a + 14) != sip)
		return false;
	memcpy(mac, a + 8, 6);
	return true;
}
