// Stand-in: OpenBSD sys/netinet/tcp.h. OpenBSD has no per-socket keepalive
// timing options (no TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT), so the
// platform core uses nothing from it; only TCP_NODELAY is declared, as there.
#pragma once

#define TCP_NODELAY 0x01 // "don't delay send to coalesce packets"
