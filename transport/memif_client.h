/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smx_memif: a minimal memif client (protocol: include/shunt/memif_proto.h),
 * one region, one queue per direction. Private to transport/.
 *
 * Why our own and not libmemif or DPDK's PMD: a pod rank must not need an
 * EAL, and smx writes its headers and payload straight into the ring's
 * buffers and reads received payload in place, which needs the ring itself,
 * not a packet API that copies.
 *
 * Region layout (one sealed memfd):
 *   [c2s ring][s2c ring][c2s buffers x N][s2c buffers x N]
 * Slot i of a ring always uses buffer i of that ring: descriptors come back
 * in order on both rings, so no free list is needed.
 */
#ifndef SMX_MEMIF_CLIENT_H
#define SMX_MEMIF_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "shunt/memif_proto.h"

struct smx_memif_conf {
	const char *socket;	/* "@name" abstract, else a path */
	const char *secret;	/* NULL: none */
	uint32_t id;
	uint32_t buffer_size;	/* multiple of 64 */
	uint32_t log2_ring;
	int timeout_ms;		/* per handshake step */
};

struct smx_memif {
	struct memif_proto_ring *c2s;	/* we write head, the server tail */
	struct memif_proto_ring *s2c;	/* we write head, the server tail */
	uint8_t *base;
	size_t size;
	uint32_t buf_size;
	uint16_t ring_size;
	uint16_t mask;
	uint32_t c2s_buf_off;		/* region offsets of the buffer arrays */
	uint32_t s2c_buf_off;
	uint16_t tx_head;		/* private copy of c2s head */
	uint16_t rx_next;		/* next s2c slot to read */
	uint16_t rx_head;		/* private copy of s2c head (offered) */
	int sock;
	int efd_c2s;
	int efd_s2c;
	bool down;
};

/*
 * Connect and run the handshake. Returns 0, or -errno with a message in
 * err (the server's DISCONNECT reason when it refused us).
 */
int smx_memif_open(struct smx_memif *m, const struct smx_memif_conf *c,
		   char *err, size_t errlen);

void smx_memif_close(struct smx_memif *m);

/*
 * Look at the control socket without blocking. Returns 0 while connected,
 * -ENOTCONN once the server sent DISCONNECT or closed (sticky).
 */
int smx_memif_check(struct smx_memif *m);

static inline uint8_t *smx_memif_tx_buf(const struct smx_memif *m, uint16_t slot)
{
	return m->base + m->c2s_buf_off + (size_t)(slot & m->mask) * m->buf_size;
}

/* Free c2s descriptors. */
static inline uint16_t smx_memif_tx_free(const struct smx_memif *m)
{
	uint16_t tail = __atomic_load_n(&m->c2s->tail, __ATOMIC_ACQUIRE);

	return (uint16_t)(m->ring_size - (uint16_t)(m->tx_head - tail));
}

/* Fill the descriptor of slot (buffer already written). */
static inline void smx_memif_tx_desc(struct smx_memif *m, uint16_t slot,
				     uint32_t len, bool more)
{
	struct memif_proto_desc *d = &m->c2s->desc[slot & m->mask];

	d->region = 0;
	d->offset = m->c2s_buf_off + (uint32_t)(slot & m->mask) * m->buf_size;
	d->length = len;
	d->flags = more ? MEMIF_PROTO_DESC_FLAG_NEXT : 0;
}

/* Hand slots up to tx_head to the server. */
void smx_memif_tx_publish(struct smx_memif *m);

/* Filled s2c descriptors not yet read. */
static inline uint16_t smx_memif_rx_avail(const struct smx_memif *m)
{
	uint16_t tail = __atomic_load_n(&m->s2c->tail, __ATOMIC_ACQUIRE);

	return (uint16_t)(tail - m->rx_next);
}

/*
 * The bytes of s2c slot's descriptor, bounded by its buffer (the server is
 * trusted not to lie, but a bad length must not make us read past it).
 */
static inline const uint8_t *smx_memif_rx_ptr(const struct smx_memif *m,
					      uint16_t slot, uint32_t *len,
					      uint16_t *flags)
{
	const struct memif_proto_desc *d = &m->s2c->desc[slot & m->mask];
	uint32_t l = d->length;

	if (l > m->buf_size)
		l = m->buf_size;
	*len = l;
	*flags = d->flags;
	return m->base + m->s2c_buf_off + (size_t)(slot & m->mask) * m->buf_size;
}

/* Give the buffers up to rx_next back to the server. */
void smx_memif_rx_release(struct smx_memif *m);

/* Interrupts on the s2c ring: true = the server kicks our eventfd. */
void smx_memif_rx_irq(struct smx_memif *m, bool on);

#endif
