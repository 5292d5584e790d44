// Stand-in: the <sys/socket.h> declarations the platform core uses, identical
// on xnu (bsd/sys/socket.h), FreeBSD (sys/sys/socket.h) and OpenBSD
// (sys/sys/socket.h).
#pragma once

#include <sys/types.h>

typedef unsigned int socklen_t;    // __uint32_t on all three
typedef unsigned char sa_family_t; // __uint8_t on all three

#define SOCK_STREAM 1        // all three: "stream socket"
#define SOCK_DGRAM 2         // all three: "datagram socket"
#define SOL_SOCKET 0xffff    // all three: "options for socket level"
#define SO_ACCEPTCONN 0x0002 // all three: "socket has had listen()"
#define SO_KEEPALIVE 0x0008  // all three: "keep connections alive"
#define SO_ERROR 0x1007      // all three: "get error status and clear"
#define SO_TYPE 0x1008       // all three: "get socket type"
#define AF_UNSPEC 0          // all three: "unspecified"
#define AF_UNIX 1            // all three: "local to host"
#define AF_INET 2            // all three: "internetwork: UDP, TCP, etc."
// AF_INET6 differs: darwin/, freebsd/ and openbsd/sys/socket.h add it.

struct sockaddr
{
    unsigned char sa_len;
    sa_family_t sa_family;
    char sa_data[14];
};

// ss_len and ss_family lead on all three; the padding (never touched by the
// core) is xnu's and FreeBSD's, 128 bytes in all (OpenBSD's makes 256).
struct sockaddr_storage
{
    unsigned char ss_len;
    sa_family_t ss_family;
    char __ss_pad1[6];
    long long __ss_align;
    char __ss_pad2[112];
};

extern "C" {
int socket(int domain, int type, int protocol);
int setsockopt(int s, int level, int name, const void *value, socklen_t length);
int getsockopt(int s, int level, int name, void *value, socklen_t *length);
int getpeername(int s, struct sockaddr *name, socklen_t *length);
int getsockname(int s, struct sockaddr *name, socklen_t *length);
}
