// Stand-in: what xnu bsd/sys/socket.h declares differently from the other two;
// the rest is in bsd-common/sys/socket.h.
#pragma once

#include_next <sys/socket.h>

#define AF_INET6 30 // "IPv6"
