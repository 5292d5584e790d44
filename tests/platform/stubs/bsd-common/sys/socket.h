// Stand-in: the <sys/socket.h> declarations the platform core uses, identical
// on xnu (bsd/sys/socket.h), FreeBSD (sys/sys/socket.h) and OpenBSD
// (sys/sys/socket.h).
#pragma once

#include <sys/types.h>

typedef unsigned int socklen_t; // __uint32_t on all three

#define SOCK_STREAM 1       // all three: "stream socket"
#define SOL_SOCKET 0xffff   // all three: "options for socket level"
#define SO_KEEPALIVE 0x0008 // all three: "keep connections alive"
#define SO_ERROR 0x1007     // all three: "get error status and clear"
#define AF_INET 2           // all three: "internetwork: UDP, TCP, etc."

extern "C" {
int socket(int domain, int type, int protocol);
int setsockopt(int s, int level, int name, const void *value, socklen_t length);
int getsockopt(int s, int level, int name, void *value, socklen_t *length);
}
