/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * memif wire protocol, version 2.0, as DPDK 22.11's net_memif and libmemif
 * speak it. Shared by the data plane's server (dataplane/memif_server*.c)
 * and the pod-side client (transport/memif_client.c).
 *
 * Written from the protocol as those two implementations use it; every
 * size and offset that the peer depends on is pinned by a static assert
 * below, because a silent layout change here would misread a peer's
 * shared memory rather than fail to build.
 *
 * Control channel: AF_UNIX SOCK_SEQPACKET, abstract address "\0<name>"
 * with the address length covering exactly the name (no trailing NULs).
 * Every message is exactly MEMIF_PROTO_MSG_SIZE bytes; region memfds and
 * ring eventfds travel as SCM_RIGHTS, one fd per message.
 *
 * Handshake (client = "slave", server = "master"):
 *   server: HELLO            (sent on accept)
 *   client: INIT             -> server: ACK
 *   client: ADD_REGION (fd)  -> server: ACK     (once per region, index 0..)
 *   client: ADD_RING (fd)    -> server: ACK     (once per ring)
 *   client: CONNECT          -> server: CONNECTED
 *   either: DISCONNECT       (reason string), then close
 * The client sends its next message only after the answer to the last
 * one, so a server sees one message at a time.
 *
 * Rings live in the client's regions. Who moves which index:
 *   C2S ring (client -> server): client fills desc[head], advances head;
 *       server reads up to head, advances tail (releases the buffers).
 *   S2C ring (server -> client): client offers empty buffers by writing
 *       desc[head].length = buffer size and advancing head; the server
 *       fills desc[tail] (length, flags), advances tail; the client
 *       consumes up to tail.
 * So on both rings the server writes only tail (and, on S2C, the length
 * and flags of descriptors between tail and head).
 */
#ifndef SHUNT_MEMIF_PROTO_H
#define SHUNT_MEMIF_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define MEMIF_PROTO_COOKIE		0x3E31F20u
#define MEMIF_PROTO_VERSION		((2u << 8) | 0u)	/* major.minor */
#define MEMIF_PROTO_NAME_SZ		32
#define MEMIF_PROTO_SECRET_SZ		24
#define MEMIF_PROTO_DISC_SZ		96
#define MEMIF_PROTO_MSG_SIZE		128

enum memif_proto_msg_type {
	MEMIF_PROTO_MSG_NONE = 0,
	MEMIF_PROTO_MSG_ACK = 1,
	MEMIF_PROTO_MSG_HELLO = 2,
	MEMIF_PROTO_MSG_INIT = 3,
	MEMIF_PROTO_MSG_ADD_REGION = 4,
	MEMIF_PROTO_MSG_ADD_RING = 5,
	MEMIF_PROTO_MSG_CONNECT = 6,
	MEMIF_PROTO_MSG_CONNECTED = 7,
	MEMIF_PROTO_MSG_DISCONNECT = 8,
};

enum memif_proto_mode {
	MEMIF_PROTO_MODE_ETHERNET = 0,
	MEMIF_PROTO_MODE_IP = 1,
	MEMIF_PROTO_MODE_PUNT_INJECT = 2,
};

/* ADD_RING flags: the ring carries client -> server traffic. */
#define MEMIF_PROTO_RING_FLAG_C2S	0x1u
/* Descriptor flags: the packet continues in the next descriptor. */
#define MEMIF_PROTO_DESC_FLAG_NEXT	0x1u
/* Ring flags, set by the ring's receiver: "I poll, send no interrupts". */
#define MEMIF_PROTO_RING_FLAG_MASK_INT	0x1u

/* server -> client, first message. max_* are the largest allowed index
 * (count - 1), not counts. */
struct memif_proto_hello {
	uint8_t name[MEMIF_PROTO_NAME_SZ];
	uint16_t min_version;
	uint16_t max_version;
	uint16_t max_region;
	uint16_t max_s2c_ring;
	uint16_t max_c2s_ring;
	uint8_t max_log2_ring_size;
} __attribute__((packed));

/* client -> server: which interface, with which secret. */
struct memif_proto_init {
	uint16_t version;
	uint32_t id;
	uint8_t mode;
	uint8_t secret[MEMIF_PROTO_SECRET_SZ];	/* NUL-padded, not always NUL-terminated */
	uint8_t name[MEMIF_PROTO_NAME_SZ];
} __attribute__((packed));

/* client -> server, with the region's memfd. */
struct memif_proto_add_region {
	uint16_t index;
	uint64_t size;
} __attribute__((packed));

/* client -> server, with the ring's eventfd. */
struct memif_proto_add_ring {
	uint16_t flags;
	uint16_t index;
	uint16_t region;
	uint32_t offset;			/* of the ring inside region */
	uint8_t log2_ring_size;
	uint16_t private_hdr_size;
} __attribute__((packed));

/* CONNECT (client) and CONNECTED (server) carry the sender's if name. */
struct memif_proto_connect {
	uint8_t if_name[MEMIF_PROTO_NAME_SZ];
} __attribute__((packed));

struct memif_proto_disconnect {
	uint32_t code;
	uint8_t string[MEMIF_PROTO_DISC_SZ];
} __attribute__((packed));

struct memif_proto_msg {
	uint16_t type;				/* enum memif_proto_msg_type */
	union {
		struct memif_proto_hello hello;
		struct memif_proto_init init;
		struct memif_proto_add_region add_region;
		struct memif_proto_add_ring add_ring;
		struct memif_proto_connect connect;
		struct memif_proto_connect connected;
		struct memif_proto_disconnect disconnect;
		uint8_t raw[MEMIF_PROTO_MSG_SIZE - 2];
	};
} __attribute__((packed));

/* Buffer descriptor, 16 bytes, naturally aligned. */
struct memif_proto_desc {
	uint16_t flags;
	uint16_t region;
	uint32_t length;
	uint32_t offset;			/* of the buffer inside region */
	uint32_t metadata;
};

/*
 * Ring header. The layout follows the clients' 64-byte cache lines
 * (x86_64, most arm64 builds): head in line 0, tail in line 1,
 * descriptors from byte 128. A client built for 128-byte lines would lay
 * its rings out differently; memif has no field to tell.
 */
#define MEMIF_PROTO_RING_HDR_SIZE	128
struct memif_proto_ring {
	uint32_t cookie;
	uint16_t flags;
	uint16_t head;
	uint8_t pad0[56];
	uint16_t tail;
	uint8_t pad1[62];
	struct memif_proto_desc desc[];
};

_Static_assert(sizeof(struct memif_proto_msg) == MEMIF_PROTO_MSG_SIZE, "msg size");
_Static_assert(sizeof(struct memif_proto_hello) == 43, "hello size");
_Static_assert(sizeof(struct memif_proto_init) == 63, "init size");
_Static_assert(offsetof(struct memif_proto_init, secret) == 7, "init.secret");
_Static_assert(sizeof(struct memif_proto_add_region) == 10, "add_region size");
_Static_assert(sizeof(struct memif_proto_add_ring) == 13, "add_ring size");
_Static_assert(offsetof(struct memif_proto_add_ring, log2_ring_size) == 10, "add_ring.log2");
_Static_assert(sizeof(struct memif_proto_disconnect) == 100, "disconnect size");
_Static_assert(offsetof(struct memif_proto_msg, hello) == 2, "msg body offset");
_Static_assert(sizeof(struct memif_proto_desc) == 16, "desc size");
_Static_assert(offsetof(struct memif_proto_ring, head) == 6, "ring.head");
_Static_assert(offsetof(struct memif_proto_ring, tail) == 64, "ring.tail");
_Static_assert(offsetof(struct memif_proto_ring, desc) == MEMIF_PROTO_RING_HDR_SIZE, "ring.desc");

#endif
