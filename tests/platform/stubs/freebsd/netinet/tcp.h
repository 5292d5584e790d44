// Stand-in: FreeBSD 14 sys/netinet/tcp.h, the options and the tcp_info fields
// the platform core uses (values as in FreeBSD; struct tcp_info is cut down to
// those fields, in FreeBSD's order and types).
#pragma once

#include <sys/types.h>

#include <cstdint>

#define TCP_INFO 32         // "retrieve tcp_info structure"
#define TCP_MAXUNACKTIME 68 // "maximum time without making progress (sec)"; 14.0+
#define TCP_KEEPIDLE 256    // "L,N,X start keeplives after this period"
#define TCP_KEEPINTVL 512   // "L,N interval between keepalives"
#define TCP_KEEPCNT 1024    // "L,N number of keepalives before close"

struct tcp_info
{
    std::uint8_t tcpi_state;           // TCP FSM state
    std::uint32_t tcpi_rto;            // Retransmission timeout (usec)
    std::uint32_t tcpi_rtt;            // Smoothed RTT in usecs
    std::uint32_t tcpi_rttvar;         // RTT variance in usecs
    std::uint32_t tcpi_snd_rexmitpack; // Retransmitted packets
};
