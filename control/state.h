/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * shuntd's desired state: networks, attachments, tuning. Kept in memory,
 * persisted as one versioned JSON file (STATE_FILE in the state
 * directory) that is replaced atomically: temp file, fsync, rename, fsync
 * of the directory. A change is acknowledged only after state_save().
 *
 * On disk (version 2 when filters are used, else version 1: the same
 * without "filters"; both load):
 *   {"version": 2,
 *    "networks": [{"name", "prefixes": [...], "mtu", "mode"}],
 *    "attachments": [{"container_id", "ifname", "netns", "network", "mode",
 *                     "ips": [...], "memif_ips": [...], "mac", "memif_mac",
 *                     "mtu", "host_if", "veth_port", "memif_port",
 *                     "memif_socket", "state",
 *                     "filters": [{"dir", "filters": [{"filter", ...}]}]}],
 *    "filters": [{"name", "path"}],
 *    "tune": {...}}
 * Version 3 (written when the node has an uplink or a peer) adds
 *    "uplinks": [{"name", "devargs", "ips": ["addr", ...],
 *                 ["kind": "ib", "prefixes": ["addr/len", ...]] (version 4)}],
 *    "peers": [{"name", "uplink", "address" (absent for ib peers), "prefixes": [...],
 *               "fabric": {"gid", "qpn", "qkey", "pkey"} (optional)}]
 *
 * Why a new version rather than optional fields in version 1: a shuntd
 * that predates filters would load such a file and silently drop every
 * pod's policy; with version 2 it refuses to start instead. The same for
 * version 3: an older shuntd would drop the node's uplink and every route
 * to the other nodes. Version 4 (the same fields) is written as soon as an
 * uplink is of kind ib: a version-3 shuntd would take it for an eth
 * device.
 */
#ifndef SHUNT_STATE_H
#define SHUNT_STATE_H

#include <limits.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include "ipaddr.h"

#define STATE_VERSION 4
#define STATE_VERSION_MIN 1      /* oldest version still loaded */
#define STATE_FILE "state.json"
#define STATE_NAME_LEN 64         /* network names */
#define STATE_CID_LEN 256         /* container ids */
#define STATE_PORT_LEN 32         /* data plane port names (DP_NAME_LEN) */
#define STATE_MAX_PREFIXES 16     /* per network */
#define STATE_MAX_FAMILY_IPS 4    /* per family and port: the data plane's
				   * POD_MAX_ADDRS */
#define STATE_MAX_IPS (2 * STATE_MAX_FAMILY_IPS)
#define STATE_MAX_NETWORKS 256
#define STATE_MAX_ATTACHMENTS 1024
#define STATE_MODE_LEN 16
#define STATE_MAX_FILTERS 64      /* loaded filters: the data plane's
				   * FILTER_REG_MAX */
#define STATE_CHAIN_MAX 8         /* filters in one chain: FILTER_CHAIN_MAX */
#define STATE_MAX_UPLINKS 8       /* a node has one or two; each is an ethdev */
#define STATE_MAX_PEERS 1024      /* other nodes */
#define STATE_DEVARGS_LEN 512     /* the data plane's devargs[] */

/* Filter chain directions; index of attachment.chains[]. */
enum filter_dir { FILTER_FROM_POD, FILTER_TO_POD };

/* A filter loaded by name from an eBPF ELF file (absolute path). */
struct filter_def {
	char name[STATE_PORT_LEN];
	char path[PATH_MAX];
};

/* The node's link to the fabric: a data plane port of kind eth, with
 * addresses of its own (the data plane answers ARP/ND for them), or of
 * kind ib (devargs "DEVICE:PORT[,gid_index=N][,pkey=P][,qkey=Q]", no
 * addresses: peers are named by their fabric address). */
#define STATE_UPLINK_ETH "eth"
#define STATE_UPLINK_IB  "ib"
struct uplink {
	char name[STATE_PORT_LEN];       /* also the data plane port's name */
	char kind[8];                    /* eth (also when empty) or ib */
	char devargs[STATE_DEVARGS_LEN];
	struct ip_prefix ips[STATE_MAX_IPS];  /* host prefixes */
	unsigned int n_ips;
	/* ib: the partition's address space (the network's pod prefixes on
	 * every node); the data plane keeps other addresses out of it. */
	struct ip_prefix nets[STATE_MAX_PREFIXES];
	unsigned int n_nets;
	/* Not persisted: the last data plane failure (reconciliation). */
	char dp_error[256];
};

/* An InfiniBand UD address of a peer's data plane (the ib uplink). */
struct peer_fabric {
	uint8_t gid[16];
	uint32_t qpn;                    /* 24 bits */
	uint32_t qkey;
	uint16_t pkey;
};

/* Another node: its uplink address and the pod prefixes behind it,
 * routed through one of our uplinks. */
struct peer {
	char name[STATE_NAME_LEN];
	char uplink[STATE_PORT_LEN];
	struct ip_prefix address;        /* host prefix; the next hop (eth
					  * uplinks; family 0 for ib peers) */
	struct ip_prefix prefixes[STATE_MAX_PREFIXES];
	unsigned int n_prefixes;
	bool has_fabric;
	struct peer_fabric fabric;
};

struct network {
	char name[STATE_NAME_LEN];
	struct ip_prefix prefixes[STATE_MAX_PREFIXES];
	unsigned int n_prefixes;
	uint32_t mtu;
	char mode[STATE_MODE_LEN];       /* default mode of its attachments */
};

enum att_state { ATT_PENDING, ATT_READY, ATT_DETACHING };

struct attachment {
	char container_id[STATE_CID_LEN];
	char ifname[IF_NAMESIZE];        /* in the pod */
	char netns[PATH_MAX];
	char network[STATE_NAME_LEN];
	char mode[STATE_MODE_LEN];
	struct ip_prefix ips[STATE_MAX_IPS];        /* as IPAM gave them */
	unsigned int n_ips;
	struct ip_prefix memif_ips[STATE_MAX_IPS];  /* veth+memif only */
	unsigned int n_memif_ips;
	uint8_t mac[6];                  /* the pod's, on its veth (or memif) */
	uint8_t memif_mac[6];            /* the memif app's, for veth+memif */
	uint32_t mtu;
	/* Names of what this attachment creates; empty when not used. They
	 * are recorded before anything is created (write-ahead). */
	char host_if[IF_NAMESIZE];       /* host end of the veth */
	char veth_port[STATE_PORT_LEN];  /* data plane ports */
	char memif_port[STATE_PORT_LEN];
	char memif_socket[108];          /* abstract, in the pod's netns */
	enum att_state state;
	/* Per direction, the chain as the API gave it (an array of
	 * {filter, [rules], [rate], [watch_drops]}, the data plane's
	 * filter.attach elements), or NULL. Owned; freed with the
	 * attachment. Applied to each of its data plane ports. */
	json_t *chains[2];

	/* Not persisted: the last data plane failure for this attachment
	 * (reconciliation), shown by check and attachment.show. */
	char dp_error[256];
};

struct state {
	char dir[PATH_MAX];
	int lock_fd;
	struct network **nets;
	unsigned int n_nets;
	struct attachment **atts;
	unsigned int n_atts;
	struct filter_def *filters;      /* loaded filters */
	unsigned int n_filters;
	struct uplink *uplinks;
	unsigned int n_uplinks;
	struct peer *peers;
	unsigned int n_peers;
	json_t *tune;                    /* persisted data plane config */
	unsigned int saves;              /* for status */
};

/*
 * Lock dir (one shuntd per state directory) and load its state file. A
 * missing file is an empty state; an unreadable, truncated or invalid one
 * is an error naming the file and what is wrong (never discarded).
 * Returns 0, -EBUSY when another process holds the lock, or another
 * -errno, with err filled on failure.
 */
int state_open(const char *dir, struct state *st, char *err, size_t errlen);
void state_close(struct state *st);

/* Persist everything. Returns 0 or -errno with err filled. */
int state_save(struct state *st, char *err, size_t errlen);

struct network *state_network_find(struct state *st, const char *name);
/* Takes ownership of n. Returns 0 or -ENOSPC. */
int state_network_add(struct state *st, struct network *n);
/* Removes and frees n. */
void state_network_remove(struct state *st, struct network *n);

struct attachment *state_attachment_find(struct state *st, const char *cid,
					 const char *ifname);
/* Takes ownership of a. Returns 0 or -ENOSPC. */
int state_attachment_add(struct state *st, struct attachment *a);
/* Removes and frees a. */
void state_attachment_remove(struct state *st, struct attachment *a);

struct filter_def *state_filter_find(struct state *st, const char *name);
/* Copies d. Returns 0, -ENOSPC or -ENOMEM. */
int state_filter_add(struct state *st, const struct filter_def *d);
void state_filter_remove(struct state *st, const char *name);

/* Uplinks and peers are kept by value: add copies, pointers from find
 * are valid until the next add or remove. add returns 0, -ENOSPC or
 * -ENOMEM. */
struct uplink *state_uplink_find(struct state *st, const char *name);
int state_uplink_add(struct state *st, const struct uplink *u);
void state_uplink_remove(struct state *st, const char *name);
struct peer *state_peer_find(struct state *st, const char *name);
int state_peer_add(struct state *st, const struct peer *p);
void state_peer_remove(struct state *st, const char *name);
/* The peer routing prefix (exactly that network), or NULL. */
struct peer *state_peer_by_prefix(struct state *st, const struct ip_prefix *pfx);
json_t *state_uplink_to_json(const struct uplink *u);
/* The uplink is of kind ib. */
bool state_uplink_is_ib(const struct uplink *u);
json_t *state_peer_to_json(const struct peer *p);

/* "from_pod"/"to_pod"; parse returns the index or -EINVAL. */
const char *state_dir_name(enum filter_dir d);
int state_dir_parse(const char *s);
/* An attachment's chains as [{"dir", "filters"}] (a new reference). */
json_t *state_chains_to_json(const struct attachment *a);

/* The persisted JSON form of each object (new references). */
json_t *state_network_to_json(const struct network *n);
json_t *state_attachment_to_json(const struct attachment *a);
const char *state_att_state_name(enum att_state s);

/* "0a:58:.." from 6 bytes, into buf of at least 18. */
char *state_mac_format(const uint8_t *mac, char *buf);
/* Parse "xx:xx:xx:xx:xx:xx" (unicast). Returns 0 or -EINVAL. */
int state_mac_parse(const char *s, uint8_t *mac);

#endif
