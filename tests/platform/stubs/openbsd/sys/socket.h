// Stand-in: what OpenBSD sys/sys/socket.h declares differently from the other two;
// the rest is in bsd-common/sys/socket.h.
#pragma once

#include_next <sys/socket.h>

#define AF_INET6 24 // "IPv6"
