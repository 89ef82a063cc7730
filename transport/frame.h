/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smx wire format: Ethernet + IPv4 + UDP (checksum 0) + smx header +
 * payload, and the ARP request/reply used to learn the gateway's MAC.
 * Private to transport/ (README.md describes the format).
 */
#ifndef SMX_FRAME_H
#define SMX_FRAME_H

#include <stdbool.h>
#include <stdint.h>

#define SMX_ETH_LEN		14
#define SMX_IP4_LEN		20
#define SMX_UDP_LEN		8
#define SMX_WIRE_LEN		40
#define SMX_HDRS_LEN		(SMX_ETH_LEN + SMX_IP4_LEN + SMX_UDP_LEN + SMX_WIRE_LEN)
/* IPv4 total length is 16 bit; payload per frame is at most this. */
#define SMX_MAX_PAYLOAD		((65535 - SMX_IP4_LEN - SMX_UDP_LEN - SMX_WIRE_LEN) & ~7u)

#define SMX_MAGIC		0x534d	/* "SM" */
#define SMX_VERSION		1

enum smx_frame_type {
	SMX_T_DATA = 1,		/* payload, with a piggy-backed ack */
	SMX_T_ACK = 2,		/* ack and window only */
};

/* smx header flags */
#define SMX_F_PROBE		0x1	/* "answer with an ACK": liveness and zero window */
#define SMX_F_GAP		0x2	/* a frame after `ack` arrived: the one at `ack` was lost */

/* What the smx header carries, in host order. */
struct smx_frame_hdr {
	uint8_t type;
	uint8_t flags;
	uint32_t src_session;	/* sender's incarnation */
	uint32_t dst_session;	/* receiver's incarnation as the sender knows it (0: unknown) */
	uint64_t seq;		/* stream offset of the payload's first byte */
	uint64_t ack;		/* every byte before this was received */
	uint64_t wnd;		/* the receiver has posted receives up to here */
};

/* Addresses of one direction; IPs in network order, ports in host order. */
struct smx_frame_addr {
	uint8_t src_mac[6];
	uint8_t dst_mac[6];
	uint32_t src_ip;
	uint32_t dst_ip;
	uint16_t src_port;
	uint16_t dst_port;
};

/* Result of smx_frame_parse. */
struct smx_frame_info {
	uint32_t src_ip, dst_ip;	/* network order */
	uint16_t src_port, dst_port;	/* host order */
	uint32_t payload_len;
	struct smx_frame_hdr h;
};

/* Write all headers (SMX_HDRS_LEN bytes) at b for payload_len bytes of payload. */
void smx_frame_build(uint8_t *b, const struct smx_frame_addr *a,
		     const struct smx_frame_hdr *h, uint32_t payload_len);

/*
 * Parse a frame whose first `len` bytes are contiguous at b and whose whole
 * length is frame_len. Returns 0 for an smx frame (payload starts at
 * SMX_HDRS_LEN), 1 for an ARP frame, 2 for other traffic, -EBADMSG for a
 * malformed one.
 */
int smx_frame_parse(const uint8_t *b, uint32_t len, uint32_t frame_len,
		    struct smx_frame_info *fi);

#define SMX_ARP_LEN		42
/* ARP request for tip from (mac, sip), broadcast. Returns its length. */
uint32_t smx_frame_arp_request(uint8_t *b, const uint8_t mac[6], uint32_t sip,
			       uint32_t tip);
/* An ARP reply from sip: copies the sender's MAC and returns true. */
bool smx_frame_arp_reply(const uint8_t *b, uint32_t len, uint32_t sip,
			 uint8_t mac[6]);

#endif
