// Stand-in: <netinet/in.h> as far as the platform core uses it; xnu
// bsd/netinet/in.h, FreeBSD sys/netinet/in.h, OpenBSD sys/netinet/in.h.
#pragma once

#include <sys/socket.h>

#define IPPROTO_TCP 6 // all three: "tcp"
