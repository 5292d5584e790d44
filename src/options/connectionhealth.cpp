// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#include "connectionhealth.h"

#include <QtCore/QDebug>

template<typename T>
static void printField(QDebug &debug, const char *name, const std::optional<T> &value)
{
    debug << ", " << name << ' ';
    if (value)
        debug << *value;
    else
        debug << "unknown";
}

template<typename Rep, typename Period>
static void printField(QDebug &debug, const char *name,
                       const std::optional<std::chrono::duration<Rep, Period>> &value)
{
    debug << ", " << name << ' ';
    if (value)
        debug << value->count() << (std::is_same_v<Period, std::micro> ? "us" : "ms");
    else
        debug << "unknown";
}

QDebug operator<<(QDebug debug, const ConnectionHealth &health)
{
    const QDebugStateSaver saver(debug);
    debug.nospace() << "ConnectionHealth(" << health.state;
    printField(debug, "rtt", health.rtt);
    printField(debug, "rttvar", health.rttVariance);
    printField(debug, "rto", health.retransmissionTimeout);
    printField(debug, "retransmits", health.retransmits);
    printField(debug, "total retransmits", health.totalRetransmits);
    printField(debug, "probes", health.probes);
    printField(debug, "backoff", health.backoff);
    printField(debug, "unacked", health.unackedSegments);
    printField(debug, "not sent", health.notSentBytes);
    printField(debug, "since data received", health.sinceLastDataReceived);
    printField(debug, "since data sent", health.sinceLastDataSent);
    printField(debug, "since ACK received", health.sinceLastAckReceived);
    debug << ')';
    return debug;
}
