// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

// Internal: the slow-reader guard (see "Slow readers" in keepalivesocket.h).
// Not installed.

#include "nativetransport_p.h"

#include <QtCore/QElapsedTimer>
#include <QtCore/QObject>

#include <chrono>

QT_BEGIN_NAMESPACE
    class QTimer;
QT_END_NAMESPACE

struct ConnectionHealth;

/*!
    A kernel retransmission bound (TCP_USER_TIMEOUT) also kills a live peer
    that has stopped reading. While the send side is stalled and the peer
    keeps answering, the guard keeps the kernel's deadline a few seconds
    ahead; once the peer has been silent for a whole user timeout, the bound
    applies again. Runs only while sent data is outstanding; without a user
    timeout it only keeps track of that (isWatching()). A child of the
    engine, so that its timer follows the socket to another thread.
*/
class StallGuard : public QObject
{
public:
    StallGuard(QAbstractSocket *socket, const NativeTransport *transport, QObject *parent);

    //! The user timeout in force (0: none, the guard only tracks outstanding data).
    void setUserTimeout(std::chrono::milliseconds userTimeout);
    //! Starts watching (data was written); never restarts a running watch.
    void start();
    void stop();
    //! TCP_USER_TIMEOUT was just set again: a bridged stall needs its extension back.
    void optionsApplied();

    bool isWatching() const;
    bool isBridged() const { return m_bridged; }

private:
    void watch();
    void bridge(const ConnectionHealth &health, qintptr descriptor, bool answeredNow);
    void restoreUserTimeout();

    QAbstractSocket *const m_socket;
    const NativeTransport *const m_transport;
    QTimer *const m_timer;
    QElapsedTimer m_stallSince; //!< valid while the send side is stalled
    bool m_bridged = false;     //!< the user timeout was pushed forward for a peer that answers
    std::chrono::milliseconds m_userTimeout{0};
};
