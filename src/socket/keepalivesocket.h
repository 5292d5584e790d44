// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

#include "connectionhealth.h"
#include "effectivekeepaliveoptions.h"
#include "keepaliveoptions.h"
#include "qtkeepalive.h"
#include "qtkeepalive_global.h"

#include <QtNetwork/QTcpSocket>

#include <memory>

class KeepAliveEngine;

/*!
    \class KeepAliveSocket
    \brief A QTcpSocket that notices a dead peer within a bound you choose and
    says why.

    Use it anywhere a QTcpSocket is used. Once connected (connected(), or
    setSocketDescriptor() for an accepted socket) it applies
    keepAliveOptions() to the descriptor — keepalive on/off, idle, interval,
    probe count and the retransmission bound — reads back what the kernel
    took (effectiveKeepAliveOptions()), and applies them again on every
    reconnect.

    When the kernel declares the peer dead, deadPeer() is emitted once, with
    the reason (see QtKeepAlive::DeadPeerReason for every reason, its
    evidence and message), before disconnected(); QAbstractSocket::errorOccurred()
    keeps Qt's error code but errorString() names the reason and the settings
    that produced it.

    An orderly close by the peer (FIN) gives RemoteHostClosedError and
    disconnected() as with QTcpSocket, but no deadPeer(); so do the
    application's own close(), abort() and disconnectFromHost(). Bytes
    received before the death stay readable in the deadPeer() and
    disconnected() handlers.

    \section Slow readers
    A kernel retransmission bound (Linux \c TCP_USER_TIMEOUT) also kills a
    connection whose peer is alive but has stopped reading (zero receive
    window) while it still acknowledges our window probes. KeepAliveSocket
    does not let that happen: while the send side is stalled and the peer
    keeps answering, the kernel's deadline is kept a few seconds ahead; once
    the peer has been silent for a whole user timeout, the bound applies again
    and the death is reported as RetransmissionTimeout. The guard runs from
    the socket's event loop, which must not be blocked for more than about
    two seconds during a stall.

    The same guard keeps a silent peer with data in flight to the bound:
    Linux counts the user timeout from its first retransmission (0.4 s
    after the send on loopback) and ends the connection at the next
    retransmission timer after it, 3.41 s for a 3 s bound. Once the kernel
    shows retransmissions that nothing answered, the guard shortens the
    user timeout so that the kernel's own end comes at the bound counted
    from the send (3.02-3.05 s measured), never before it. In a thread
    without an event loop the guard does not run, and the kernel's own
    timing applies.

    \section Cost
    A healthy connection in use costs no system call per read or write
    notification. Qt's read of a failed socket closes the descriptor before
    errorOccurred(), so the kernel's view has to be taken before it; the
    library does that (one non-blocking \c poll(), and \c TCP_INFO only when
    it shows an error) on the first notification after a quiet gap: half the
    shortest silence a timeout death needs (idle + interval, or the user
    timeout), at most 1 s, told by a coarse clock read of a few ns. A
    keepalive or retransmission death always follows such a silence. In the
    middle of a stream only a reset can arrive: \c errno is cleared before
    Qt's read (no system call), and the failing read's own \c ECONNRESET tells
    it from an orderly end-of-file. A timeout death met without the look is
    a RetransmissionTimeout when sent data was outstanding (the library
    watches that) or keepalive is off, else a KeepAliveTimeout; its
    connectionHealth() then knows only the state. Where the read's error does
    not survive until errorOccurred() (Windows), and in Unbuffered mode,
    every notification looks. While sent data is outstanding: one
    \c TCP_INFO query per watch tick (at most 20 per second), the watches of
    a thread sharing one timer. Measured: receive throughput 0.99+ of a
    QTcpSocket's (see benchmarks/RESULTS.md).

    \section Proxies, threads, modes
    Behind a SOCKS5 or HTTP CONNECT proxy (QNetworkProxy), the options apply
    to the TCP connection to the proxy, and a dead proxy connection is
    reported; socketDescriptor() is then Qt's counter, never used as a
    descriptor. The socket and everything it owns follow moveToThread(),
    before or after connecting. In Unbuffered mode a death is reported when
    the kernel shows it, even if the application is not reading; the bytes
    received before it stay readable, and errorOccurred() and disconnected()
    follow once the application has read them. With a full read buffer
    (setReadBufferSize()) and an application that is not reading, a death is
    still reported within the bound: the limit is lifted so that Qt reads the
    rest and the error.

    When the application calls disconnectFromHost(), Qt sends what is
    queued and closes the descriptor; the kernel then delivers the rest as
    it does for a QTcpSocket (the user timeout is switched off for that).

    \section Blocking use without an event loop
    In a thread that never runs an event loop (a std::thread, where Qt has no
    event dispatcher, or a QThread whose run() does not call exec()) use the
    socket as a QTcpSocket, through waitForReadyRead(), waitForBytesWritten(),
    waitForDisconnected() and flush(): every byte received before a death is
    delivered, and the death is reported from within the call that meets it
    (deadPeer(), then errorOccurred() and disconnected()), with its reason.
    What needs an event loop is off there, silently: the slow-reader guard
    (the retransmission bound then also ends a connection whose live peer
    stops reading for a whole user timeout: RetransmissionTimeout) and the
    periodic look while Qt does not read (a wait lifts a full read buffer's
    limit once the kernel shows a death). In Unbuffered mode errorOccurred()
    and disconnected() follow deadPeer() only from an event loop, and behind
    a proxy a timed-out proxy connection is reported only from one.

    \note Otherwise keep the socket's event loop running: the pre-read
    inspection hooks Qt's socket notifiers. That inspection, and finding the
    connection behind a proxy, rely on how Qt implements its sockets; each
    assumption is checked where it is used. When one fails on the Qt at
    hand, the library logs one warning naming it (category
    \c qtkeepalive.qtinternals) and uses Qt's public API only for the
    connections that follow: deaths are still reported, never with a wrong
    reason (README, "Platform support").
*/
class QTKEEPALIVE_EXPORT KeepAliveSocket : public QTcpSocket
{
    Q_OBJECT
    //! The options asked for (see setKeepAliveOptions()).
    Q_PROPERTY(KeepAliveOptions keepAliveOptions READ keepAliveOptions WRITE setKeepAliveOptions
                       NOTIFY keepAliveOptionsChanged)
    //! The options the kernel holds, as last applied and read back.
    Q_PROPERTY(EffectiveKeepAliveOptions effectiveKeepAliveOptions READ effectiveKeepAliveOptions
                       NOTIFY effectiveKeepAliveOptionsChanged)
    //! The outcome of the last configuration attempt.
    Q_PROPERTY(QtKeepAlive::KeepAliveError keepAliveError READ keepAliveError NOTIFY
                       keepAliveErrorChanged)
    //! Why the current (or last) connection was declared dead; None until that happens.
    Q_PROPERTY(QtKeepAlive::DeadPeerReason deadPeerReason READ deadPeerReason NOTIFY
                       deadPeerReasonChanged)

public:
    //! Why the peer was declared dead (the shared QtKeepAlive::DeadPeerReason).
    using DeadPeerReason = QtKeepAlive::DeadPeerReason;
    //! Outcome of the last attempt to configure keepalive (QtKeepAlive::KeepAliveError).
    using KeepAliveError = QtKeepAlive::KeepAliveError;

    explicit KeepAliveSocket(QObject *parent = nullptr);
    ~KeepAliveSocket() override;

    /*!
        Validates \a options and, if valid, stores them and applies them at
        once when connected (otherwise on connected()). Returns false for
        invalid options: the previous options stay in force, the socket keeps
        working, keepAliveError() is InvalidOptions and keepAliveErrorString()
        names the field, value and range. Returns false as well when the
        kernel refused an option (OptionRefused); the options are then stored
        but effectiveKeepAliveOptions() shows what the kernel holds. On an
        adopted descriptor that is not a TCP connection (UnsupportedSocket,
        see setSocketDescriptor()) valid options are stored for the next
        connection, nothing is applied, and false is returned with that
        error kept.
    */
    bool setKeepAliveOptions(const KeepAliveOptions &options);
    KeepAliveOptions keepAliveOptions() const;

    /*!
        What the kernel holds for this connection, read back with
        \c getsockopt(). Fields the platform cannot read back are unknown
        (empty std::optional fields). Without a connection no field
        is known.
    */
    EffectiveKeepAliveOptions effectiveKeepAliveOptions() const;

    KeepAliveError keepAliveError() const;
    //! Human-readable description of keepAliveError(); empty for NoError.
    QString keepAliveErrorString() const;

    /*!
        Why the current connection was declared dead, or the last one if none
        is open; None until that happens. Reset to None when the next
        connection starts (connected(), or setSocketDescriptor()).
    */
    DeadPeerReason deadPeerReason() const;

    /*!
        A fresh snapshot of the kernel's view of the connection. Once the
        connection is dead, the snapshot taken at its death (until the next
        connection starts); otherwise invalid without a connection. A death
        met in the middle of a busy stream, where the library does not look
        at the kernel (see Cost), leaves only the state (Closed) known.
    */
    ConnectionHealth connectionHealth() const;

    /*!
        Hides QAbstractSocket::flush() (which is not virtual). If the peer has
        already reset or timed out, the death is first reported through Qt's
        read path — deadPeer() with its reason, and the bytes received before
        it stay readable — and false is returned; a plain flush() would meet
        the error on its write path, which abort()s and drops them. Called
        through a QTcpSocket or QAbstractSocket pointer, Qt's own flush() runs.
    */
    bool flush();

    /*!
        Reimplemented. Blocking waits bypass the notifiers through which the
        library looks at the kernel before Qt's read; the wait looks itself
        (it waits in \c poll() until the connection is ready, and reads
        \c TCP_INFO when it shows an error), so a death met during the wait
        is reported with its reason and connectionHealth() as from the event
        loop. As from a QTcpSocket, waitForReadyRead() first delivers what
        the peer sent before a death (true) and meets the death at the next
        call (false). waitForBytesWritten() and waitForDisconnected() report a
        death pending or coming while they wait through Qt's read path, as
        flush() does (Qt's write path would drop those bytes);
        waitForBytesWritten() then returns false, waitForDisconnected() true.
        Inside a deadPeer() handler the connection is already closed and the
        waits return false at once, without a second errorOccurred().
    */
    bool waitForReadyRead(int msecs = 30000) override;
    //! Reimplemented; see waitForReadyRead().
    bool waitForBytesWritten(int msecs = 30000) override;
    //! Reimplemented; see waitForReadyRead().
    bool waitForDisconnected(int msecs = 30000) override;

    /*!
        Reimplemented: adopts the descriptor, then applies keepAliveOptions()
        to it. The descriptor then belongs to this socket, as with QTcpSocket.

        Only a connected TCP socket gets keepalive. Anything else is adopted
        (or refused) exactly as QTcpSocket does it, with the same return
        value, state() and error(): Qt accepts a listening or unconnected TCP
        socket, a UDP or UNIX-domain socket and a pipe as connected, and
        refuses -1 and a closed descriptor. Such a descriptor is left alone:
        no option is applied to it, deadPeer() is never emitted for it, and
        keepAliveError() is UnsupportedSocket (keepAliveErrorOccurred() once),
        with keepAliveErrorString() naming what it is, e.g. "keepalive is not
        applied: descriptor 7 is a listening TCP socket, not a connected TCP
        socket".
    */
    bool setSocketDescriptor(qintptr socketDescriptor, SocketState state = ConnectedState,
                             OpenMode openMode = ReadWrite) override;

Q_SIGNALS:
    void keepAliveOptionsChanged(const KeepAliveOptions &options);
    //! Emitted when deadPeerReason() changes: at a death, and back to None at the next connection.
    void deadPeerReasonChanged(QtKeepAlive::DeadPeerReason reason);
    /*!
        Emitted when what the kernel holds changes: after the options were
        applied to a connection and read back with a different result, and
        when the connection ends (no field is known then).
    */
    void effectiveKeepAliveOptionsChanged(const EffectiveKeepAliveOptions &effective);
    //! Emitted when keepAliveError() changes, back to NoError included.
    void keepAliveErrorChanged(QtKeepAlive::KeepAliveError error);
    //! Emitted when options are rejected or refused by the kernel (every time, even if unchanged).
    void keepAliveErrorOccurred(QtKeepAlive::KeepAliveError error);
    /*!
        Emitted exactly once per dead connection, before disconnected() and
        before other handlers of errorOccurred() run, whatever the handlers
        do. Not emitted for an orderly close by the peer (a FIN, even if the
        peer then rejects our next data with a RST) nor for the application's
        own close().

        Inside a handler:
        \list
        \li read what the peer sent before the death (it stays readable here
            and in disconnected());
        \li errorString(), deadPeerReason() and connectionHealth() (the
            snapshot taken at the death) describe the death;
        \li setKeepAliveOptions() stores options for the next connection;
            effectiveKeepAliveOptions() is unknown: the descriptor is closed;
        \li write(), flush() and the waitFor...() functions fail harmlessly;
        \li abort() or close() end the connection at once.
        \endlist
        \warning Never \c delete the socket in a handler (Qt's own code is
        still running on it, as for QTcpSocket in errorOccurred()): call
        deleteLater(). To reconnect, call connectToHost() from disconnected(),
        which follows, or queue the call: inside this handler the socket is
        still connected and Qt refuses with OperationError.
    */
    void deadPeer(QtKeepAlive::DeadPeerReason reason);

protected:
    /*!
        Reimplemented. Unbuffered, Qt 6.4 ends a connection whose read fails
        without errorOccurred(), stateChanged() or disconnected(); these are
        emitted here (queued, once read() has returned), as in buffered mode.
    */
    qint64 readData(char *data, qint64 maxSize) override;
    /*!
        Reimplemented: Unbuffered, a write into a dead connection fails without
        closing it. Every write also tells the library that data is
        outstanding (its slow-reader guard and its bound with data in flight
        depend on it): a subclass that reimplements writeData() calls this one.
    */
    qint64 writeData(const char *data, qint64 size) override;

    //! Reimplemented: the keepalive state follows the socket to another thread.
    bool event(QEvent *event) override;

private:
    friend class KeepAliveEngine; //!< sets Qt's error code and string (protected in Qt)
    // The engine's handlers of this socket's own signals, connected first (by method index).
    Q_PRIVATE_SLOT(d, void _q_connected())
    Q_PRIVATE_SLOT(d, void _q_errorOccurred(QAbstractSocket::SocketError))
    Q_PRIVATE_SLOT(d, void _q_stateChanged(QAbstractSocket::SocketState))
    Q_PRIVATE_SLOT(d, void _q_bytesWritten())
    Q_PRIVATE_SLOT(d, void _q_readyRead())
    Q_PRIVATE_SLOT(d, void _q_transportError(QAbstractSocket::SocketError))
    const std::unique_ptr<KeepAliveEngine>
            d; //!< no QObject: told of thread moves and removed children by event()
};
