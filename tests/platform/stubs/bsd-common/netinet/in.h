// Stand-in: <netinet/in.h> as far as the platform core uses it; xnu
// bsd/netinet/in.h, FreeBSD sys/netinet/in.h, OpenBSD sys/netinet/in.h.
#pragma once

#include <sys/socket.h>

#define IPPROTO_TCP 6 // all three: "tcp"

// The same layout on all three (4.4BSD): a length byte before the family.
typedef unsigned short in_port_t; // __uint16_t on all three
typedef unsigned int in_addr_t;   // __uint32_t on all three

struct in_addr
{
    in_addr_t s_addr;
};

struct sockaddr_in
{
    unsigned char sin_len;
    sa_family_t sin_family;
    in_port_t sin_port;
    struct in_addr sin_addr;
    char sin_zero[8];
};

// xnu and FreeBSD name the union __u6_addr, OpenBSD __u6_addr too; all
// three define s6_addr as its byte view.
struct in6_addr
{
    union {
        unsigned char __u6_addr8[16];
        unsigned short __u6_addr16[8];
        unsigned int __u6_addr32[4];
    } __u6_addr;
};
#define s6_addr __u6_addr.__u6_addr8

struct sockaddr_in6
{
    unsigned char sin6_len;
    sa_family_t sin6_family;
    in_port_t sin6_port;
    unsigned int sin6_flowinfo;
    struct in6_addr sin6_addr;
    unsigned int sin6_scope_id;
};
