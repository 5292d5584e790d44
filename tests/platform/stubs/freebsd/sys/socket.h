// Stand-in: what FreeBSD sys/sys/socket.h declares differently from the other two;
// the rest is in bsd-common/sys/socket.h.
#pragma once

#include_next <sys/socket.h>

#define AF_INET6 28 // "IPv6"
