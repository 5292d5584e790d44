// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

// Internal: everything KeepAliveSocket does, attached to any QAbstractSocket.
// Not installed.

#include "connectionhealth.h"
#include "deathclassification_p.h"
#include "effectivekeepaliveoptions.h"
#include "keepaliveoptions.h"
#include "nativetransport_p.h"
#include "notifierinspector_p.h"
#include "qtkeepalive.h"
#include "stallguard_p.h"

#include <QtCore/QMetaMethod>
#include <QtCore/QObject>
#include <QtCore/QScopeGuard>
#include <QtNetwork/QHostAddress>

#include <limits>
#include <memory>
#include <optional>
#include <vector>

/*!
    The message for invalid \a options, the same for every class that takes
    them; empty when they are valid.
*/
QString invalidKeepAliveOptionsMessage(const KeepAliveOptions &options);

/*!
    The keepalive engine of one socket: applies the options to each
    connection and reads them back, looks at the kernel before Qt's read
    consumes a death (NotifierInspector), guards slow readers (StallGuard),
    classifies the death and reports it once per connection.

    It is owned by its socket (a KeepAliveSocket or a KeepAliveSslSocket),
    is no QObject of its own, and connects the socket's signals first, to
    the socket's private slots that call it (by method index: no slot object
    per connection). The socket tells it when it moves to another thread. The TCP connection
    may belong to an inner socket (a proxy engine's, a QSslSocket's): the
    engine finds it (NativeTransport) and never touches another descriptor.
    What only a subclass of the socket can do — set Qt's error, intercept
    flush(), blocking waits and Unbuffered reads — the subclass does by
    calling the hooks below.
*/
class KeepAliveEngine final : private NotifierInspector::Listener
{
public:
    struct SocketSignals;
    /*!
        The engine of \a socket, whose class has \a socketSignals
        (socketSignalsOf<Socket>): its signals, and the private slots that
        call this engine's handlers.
    */
    KeepAliveEngine(QAbstractSocket *socket, const SocketSignals &socketSignals);
    ~KeepAliveEngine();
    Q_DISABLE_COPY_MOVE(KeepAliveEngine)

    /*!
        What a server keeps of a client it counts: told by the engine
        directly, not through the socket's signals (more connections per
        client, and an object of its own to receive them).
    */
    class Watcher
    {
    public:
        virtual ~Watcher() = default;
        //! Bytes arrived: a read notification (readyRead() where Qt's internals are not used).
        virtual void readActivity() = 0;
        //! The peer is dead: called just before the socket's deadPeer().
        virtual void deadPeer(QtKeepAlive::DeadPeerReason reason) = 0;
        /*!
            The connection ended (stateChanged(UnconnectedState)). The
            watcher stays with the engine, told of nothing it must act on,
            until it is replaced or the engine is destroyed.
        */
        virtual void connectionEnded() = 0;
        //! The socket is about to move to another thread (called in the old one).
        virtual void threadChanging() = 0;
    };
    //! From now on the engine owns \a watcher and tells it (replaces one set before).
    void setWatcher(std::unique_ptr<Watcher> watcher) { m_watcher = std::move(watcher); }
    Watcher *watcher() const { return m_watcher.get(); }

    bool setOptions(const KeepAliveOptions &options);
    const KeepAliveOptions &options() const { return m_options; }
    EffectiveKeepAliveOptions effectiveOptions() const;
    QtKeepAlive::KeepAliveError error() const { return m_error; }
    QString errorString() const { return known().errorString; }
    QtKeepAlive::DeadPeerReason deadPeerReason() const { return m_reason; }
    ConnectionHealth health() const;
    /*!
        The socket that holds the current (or last) TCP connection: the
        socket itself, or the inner one of a proxy engine or a QSslSocket;
        null before the first connection.
    */
    QAbstractSocket *transportSocket() const { return m_site.transport.socket(); }
    //! The connection's notifiers are watched through the shared hook (for tests).
    bool usesSharedHook() const { return m_inspector.usesSharedHook(); }

    // Hooks for the socket subclass.
    //! Before setSocketDescriptor(): the ConnectedState it announces is not a connect().
    void adopting() { m_adopting = true; }
    /*!
        After setSocketDescriptor(), which \a accepted \a descriptor or not:
        a new connection, unless the descriptor is not a connected TCP socket.
        Such a one is left alone (UnsupportedSocket): no options, no look at
        the kernel, never a dead peer.
    */
    void adopted(qintptr descriptor, bool accepted);
    /*!
        Before flush() or a blocking call: true if the connection is already
        dead or a pending death was just reported (the call must not reach
        Qt's write path then).
    */
    bool reportDeathFirst();
    //! Held around a blocking waitFor...(): the read's own error tells a reset then.
    [[nodiscard]] auto blockingWait()
    {
        beginBlockingWait();
        return qScopeGuard([this, queued = m_site.socket->bytesToWrite()] {
            --m_blockingWaits;
            noteWritesSince(queued);
        });
    }
    //! What a blocking waitFor...() waits for.
    enum class BlockingWait { ReadyRead, BytesWritten, Disconnected };
    /*!
        Inside blockingWait(), before Qt's own waitFor...() of \a kind: waits
        (up to \a msecs, -1 for ever) until the connection has something for
        Qt's wait to act on, so that a death coming meanwhile is seen, and the
        kernel's evidence taken, before Qt's read meets it. Writes what is
        queued while it waits for data, as Qt's wait would. Returns the time
        left for Qt's wait, or nothing when the death was reported here
        through Qt's read path (waits other than for data: Qt's write path
        would drop what the peer sent before it).
    */
    std::optional<int> awaitActivity(BlockingWait kind, int msecs);
    //! Unbuffered read: before and after Qt's readData().
    void beforeUnbufferedRead();
    void afterUnbufferedRead(qint64 result, QAbstractSocket::SocketState before);
    //! Unbuffered write: true if it must fail (the connection is dead).
    bool refuseUnbufferedWrite();
    //! Any write: true once Qt has closed the connection's descriptor.
    bool connectionEnded() const;

    /*!
        The signals of a socket class that carries the engine's own (its
        keepAlive...Changed(), deadPeer() ...), and the setter of Qt's error
        that only a subclass has: called directly, not through connections,
        which would cost every socket six of them; and the method indexes
        of the private slots (Q_PRIVATE_SLOT) through which the socket's own
        signals reach the engine's handlers. socketSignalsOf<Socket> is the
        table of a class.
    */
    struct SocketSignals
    {
        //! Method indexes of the class's private slots, named after the handlers they call.
        struct Slots
        {
            int connected;
            int errorOccurred;
            int stateChanged;
            int bytesWritten;
            int readyRead;
            int transportError;
            static Slots of(const QMetaObject &metaObject);
        };
        const Slots &(*slotIndexes)();
        //! Sets Qt's error code and errorString() (protected in Qt: the class befriends the engine).
        void (*setError)(QAbstractSocket *, QAbstractSocket::SocketError, const QString &);
        void (*optionsChanged)(QAbstractSocket *, const KeepAliveOptions &);
        void (*effectiveOptionsChanged)(QAbstractSocket *, const EffectiveKeepAliveOptions &);
        void (*errorChanged)(QAbstractSocket *, QtKeepAlive::KeepAliveError);
        void (*errorOccurred)(QAbstractSocket *, QtKeepAlive::KeepAliveError);
        void (*deadPeerReasonChanged)(QAbstractSocket *, QtKeepAlive::DeadPeerReason);
        void (*deadPeer)(QAbstractSocket *, QtKeepAlive::DeadPeerReason);
    };
    template<typename Socket>
    static const SocketSignals socketSignalsOf;

    /*!
        The handlers of the socket's own signals, called by its private
        slots (connected first, so they run before the application's).
    */
    void _q_connected();
    void _q_errorOccurred(QAbstractSocket::SocketError error);
    void _q_stateChanged(QAbstractSocket::SocketState state);
    void _q_bytesWritten();
    void _q_readyRead();
    //! A proxy's inner socket reported an error.
    void _q_transportError(QAbstractSocket::SocketError error);
    /*!
        The socket classes' event(), before the base class's: a move to
        another thread (QEvent::ThreadChange, sent in the old one) and Qt's
        removal of a child (QEvent::ChildRemoved: perhaps its socket engine).
    */
    void socketEvent(QEvent *event);

    /*!
        The socket classes' reimplementations, written once for
        KeepAliveSocket and KeepAliveSslSocket: each takes the base class's
        own function as \a qt (QTcpSocket's, QSslSocket's).
    */
    //! flush(): a pending death is reported before Qt's write path can drop received bytes.
    template<typename QtFlush>
    bool flush(QtFlush qt)
    {
        const qint64 queued = m_site.socket->bytesToWrite();
        const bool flushed = !reportDeathFirst() && qt();
        noteWritesSince(queued);
        return flushed;
    }
    template<typename QtWait>
    bool waitForReadyRead(int msecs, QtWait qt)
    {
        // A death already pending is met by Qt's own read, as with a
        // QTcpSocket: after what the peer sent before it.
        if (connectionEnded())
            return false;
        const auto wait = blockingWait();
        const std::optional<int> left = awaitActivity(BlockingWait::ReadyRead, msecs);
        if (!left || !qt(*left))
            return false;
        readNotified(); // Qt read without a notification
        return true;
    }
    template<typename QtWait>
    bool waitForBytesWritten(int msecs, QtWait qt)
    {
        if (reportDeathFirst())
            return false;
        const auto wait = blockingWait();
        const std::optional<int> left = awaitActivity(BlockingWait::BytesWritten, msecs);
        return left && qt(*left);
    }
    template<typename QtWait>
    bool waitForDisconnected(int msecs, QtWait qt)
    {
        if (reportDeathFirst())
            return m_site.socket->state() == QAbstractSocket::UnconnectedState;
        const auto wait = blockingWait();
        const std::optional<int> left = awaitActivity(BlockingWait::Disconnected, msecs);
        return left ? qt(*left) : m_site.socket->state() == QAbstractSocket::UnconnectedState;
    }
    template<typename QtRead>
    qint64 readData(QtRead qt)
    {
        if (!isUnbuffered())
            return qt();
        const QAbstractSocket::SocketState before = m_site.socket->state();
        beforeUnbufferedRead();
        const qint64 read = qt();
        afterUnbufferedRead(read, before);
        return read;
    }
    /*!
        writeData(): nothing can be sent once the connection is dead
        (errorString() says why); after Qt's write, the write notifier it may
        have created is hooked.
    */
    template<typename QtWrite>
    qint64 writeData(QtWrite qt)
    {
        if (connectionEnded() || refuseUnbufferedWrite())
            return -1;
        const qint64 written = qt();
        m_inspector.writeNotifierMayExist();
        // Sent now (Unbuffered) or queued: Qt sends it at its write
        // notification, or at once in a flush() through a QAbstractSocket
        // pointer, which is not virtual and shows nothing.
        if (written > 0)
            writeAccepted();
        return written;
    }

    /*!
        The engine of \a socket if it is a KeepAliveSocket or a
        KeepAliveSslSocket, nullptr otherwise. Defined with the socket
        classes, which own their engines.
    */
    static KeepAliveEngine *of(QAbstractSocket *socket);
    //! The same for any object (null for one that is no socket of this library).
    static KeepAliveEngine *of(QObject *object);

    /*!
        A peer declared dead by an application heartbeat that watches the
        connection through another object (a QWebSocket over this socket):
        while one is in force in a thread, a socket of that thread whose
        connection has the same two endpoints reports the death as its own
        (deadPeer(HeartbeatTimeout)) as it starts to close. The heartbeat
        keeps one on its stack around its verdict and the end it makes.
    */
    class ForeignHeartbeatDeath
    {
    public:
        struct Endpoints
        {
            QHostAddress localAddress;
            quint16 localPort = 0;
            QHostAddress peerAddress;
            quint16 peerPort = 0;
        };
        ForeignHeartbeatDeath(const Endpoints &endpoints, const QString &message);
        ~ForeignHeartbeatDeath();
        Q_DISABLE_COPY_MOVE(ForeignHeartbeatDeath)
        //! True once a socket has reported it.
        bool isTaken() const { return m_taken; }

    private:
        friend class KeepAliveEngine;
        //! The death in force in this thread for \a socket's connection, marked taken; or nullptr.
        static ForeignHeartbeatDeath *claim(const QAbstractSocket *socket);

        const Endpoints m_endpoints;
        const QString m_message;
        ForeignHeartbeatDeath *const m_outer; //!< the one in force before (nested verdicts)
        bool m_taken = false;
    };

    /*!
        A KeepAliveHeartbeat on this socket is about to declare the peer
        dead (heartbeatTimeout()) with \a message. If a handler of that
        signal ends the connection itself (abort(), close(),
        disconnectFromHost()), the death is reported as it closes, before
        disconnected(); otherwise reportHeartbeatDeath() reports it.
    */
    void expectHeartbeatDeath(const QString &message);
    /*!
        Reports the death expectHeartbeatDeath() announced as HeartbeatTimeout
        (no classification: the kernel saw nothing wrong), once per connection
        like every death: deadPeer(), then the socket's
        errorOccurred(SocketTimeoutError). Returns false when nothing was
        expected, this connection's death was already reported or the
        connection is not open. The caller ends the connection.
    */
    bool reportHeartbeatDeath();
    /*!
        Before the application's own close of a connection that is still
        open: makes Qt read what the kernel holds, past a read buffer limit
        (restored when the connection ends), so that the close neither drops
        received bytes nor resets the peer (the kernel sends a RST when it
        closes with unread data).
    */
    void readBeforeClose();

private:
    friend NotifierInspector; // NotifierInspector::of()
    //! of(), written once for it and NotifierInspector::of(), inlined into each.
    Q_ALWAYS_INLINE static KeepAliveEngine *find(QObject *object);

    //! A signal of the socket connected to one of its private slots for the engine's life.
    struct LifelongConnection
    {
        QMetaMethod signal;
        int slot;
    };
    std::vector<LifelongConnection> lifelongConnections() const;
    //! Connects \a sender's \a signal to the socket's private slot of method index \a slot.
    void connectToSlot(const QObject *sender, const QMetaMethod &signal, int slot,
                       Qt::ConnectionType type = Qt::AutoConnection);
    void disconnectFromSlot(const QObject *sender, const QMetaMethod &signal, int slot);

    // NotifierInspector::Listener
    void readNotified() override;
    void writeNotified(qint64 nowNs) override;
    void unbufferedDeathFound(qintptr descriptor) override;
    const StallGuard &stallGuard() const override { return m_guard; }

    /*!
        Qt wrote (or is about to write) to the kernel now: writeData() took
        bytes (sent at once, or queued for the next write notification or a
        flush()), bytesWritten(), the inspector's write notification, or less
        queued after a call into Qt that writes without a notification (see
        noteWritesSince()). A write noted early only makes the guard's
        estimate of the peer's silence shorter. \a nowNs: coarseNowNs().
    */
    void noteWritten(qint64 nowNs);
    //! writeData() took bytes of a connection: noteWritten().
    void writeAccepted();
    //! Qt held \a queued bytes before a call that may have written some: noteWritten() if it did.
    void noteWritesSince(qint64 queued);
    /*!
        The inspector sees every write notification of a connection on the
        socket's own Qt engine (see NotifierInspector::Listener::writeNotified()),
        and the socket class sees the calls that write without one: such a
        connection needs bytesWritten() only while it closes (onClosing()).
    */
    bool writesSeenWithoutSignal() const;

    //! Emits the socket's signal \a forward.
    template<typename Forward, typename... Args>
    void notify(Forward SocketSignals::*forward, const Args &...args)
    {
        (m_signals.*forward)(m_site.socket, args...);
    }

    //! See expectHeartbeatDeath().
    struct HeartbeatDeath
    {
        QString message;
        ConnectionHealth health; //!< at the verdict: a handler may close the descriptor
    };
    void beginBlockingWait();
    //! Before a call into Qt that may meet a death during a blocking wait.
    void beforeBlockingCall();
    //! A new connection; \a notTcp non-empty: an adopted one that is left alone, and why.
    void startConnection(const QString &notTcp = QString());
    void applyOptions();
    void setError(QtKeepAlive::KeepAliveError error, const QString &message);
    //! Classified as classifyDeadPeer() does for this platform, or as from \a source.
    void reportDeath(QAbstractSocket::SocketError error, KeepAlivePlatform::OsError osError,
                     const DeathEvidence &seen, std::optional<OsErrorSource> source = {});
    void announceDeath(QtKeepAlive::DeadPeerReason reason, QAbstractSocket::SocketError error,
                       const QString &message, const ConnectionHealth &health);
    void takeUnbufferedDeath(qintptr descriptor);
    //! Ends a connection whose proxy connection died (see _q_transportError()).
    void closeDeadTransport();
    //! The public-API-only mode's _q_errorOccurred(): the death read after the fact.
    void reportDeathAfterClose(QAbstractSocket::SocketError error);
    void releaseRetained();
    //! Connects (\a on) or disconnects \a signal of the socket to private slot \a slot.
    void watchSignal(bool &connected, bool on, const QMetaMethod &signal, int slot);
    //! readyRead() (again for a new connection; see checkReadActivation()).
    void watchReadyRead(bool on);
    //! bytesWritten(), where writesSeenWithoutSignal() does not hold or while closing.
    void watchBytesWritten(bool on);
    //! The application's close waits for queued data: see onClosing().
    void watchClosingWrites();
    //! The check of Qt's internals that only the socket's signals can make.
    void checkReadActivation();
    //! What is known of a death that Qt's read met on a notification that did not look.
    DeathEvidence unlookedEvidence(KeepAlivePlatform::OsError osError) const;
    //! The connection ended (or never came): what was known of it goes.
    void onConnectionEnded();
    void onClosing();
    void announceHeartbeatDeath(const HeartbeatDeath &death);
    bool isUnbuffered() const;
    bool isLeftAlone() const { return m_rare && m_rare->notTcp; }

    /*!
        What few connections ever hold: an error message, what is known of
        a death, why a connection is left alone, the public-API-only mode's
        second handle. On the heap once one of them is set, so that
        thousands of quiet connections hold a pointer.
    */
    struct Rare
    {
        QString errorString;
        std::optional<HeartbeatDeath> heartbeatDeath;  //!< see expectHeartbeatDeath()
        std::optional<ConnectionHealth> healthAtDeath; //!< connectionHealth() after the death
        //! A proxy's inner socket timed out unlooked: reported once the outer socket is done.
        std::optional<DeathEvidence> seenUnlooked;
        //! Why the current connection is left alone (adopted()); unset for a TCP connection.
        std::optional<QString> notTcp;
        //! Unbuffered: the error taken from the kernel, for errorOccurred() at the end.
        std::optional<QAbstractSocket::SocketError> unbufferedError;
        //! Public-API-only mode: a second handle on the connection (KeepAlivePlatform::retain()).
        qintptr retained = -1;
    };
    //! The rare state to read: all unset where none was ever set.
    const Rare &known() const;
    //! The rare state to set, created on first use.
    Rare &rare();
    //! Unsets \a member of the rare state, creating nothing.
    template<typename T>
    void forget(std::optional<T> Rare::*member)
    {
        if (m_rare)
            ((*m_rare).*member).reset();
    }
    //! \a member of the rare state, leaving it unset.
    template<typename T>
    std::optional<T> take(std::optional<T> Rare::*member)
    {
        return m_rare ? std::exchange((*m_rare).*member, std::nullopt) : std::nullopt;
    }

    /*!
        An EffectiveKeepAliveOptions kept only to tell a change, exactly, in
        half its size (every connection holds one).
    */
    class AnnouncedOptions
    {
    public:
        AnnouncedOptions() = default;
        explicit AnnouncedOptions(const EffectiveKeepAliveOptions &options)
            : m_idleMs(msOr(options.idle)),
              m_intervalMs(msOr(options.interval)),
              m_userTimeoutMs(msOr(options.userTimeout)),
              m_probeCount(options.probeCount.value_or(0)),
              m_known(quint8((options.enabled ? 1 : 0) | (options.probeCount ? 2 : 0))),
              m_enabled(options.enabled.value_or(false))
        {
        }
        bool isEmpty() const { return *this == AnnouncedOptions(); }
        friend bool operator==(const AnnouncedOptions &a, const AnnouncedOptions &b)
        {
            return a.m_idleMs == b.m_idleMs && a.m_intervalMs == b.m_intervalMs
                    && a.m_userTimeoutMs == b.m_userTimeoutMs && a.m_probeCount == b.m_probeCount
                    && a.m_known == b.m_known && a.m_enabled == b.m_enabled;
        }
        friend bool operator!=(const AnnouncedOptions &a, const AnnouncedOptions &b)
        {
            return !(a == b);
        }

    private:
        //! Unknown: a value no duration has (the kernel's are never negative here).
        static constexpr qint64 Unknown = std::numeric_limits<qint64>::min();
        static qint64 msOr(const std::optional<std::chrono::milliseconds> &value)
        {
            return value ? qint64(value->count()) : Unknown;
        }
        qint64 m_idleMs = Unknown;
        qint64 m_intervalMs = Unknown;
        qint64 m_userTimeoutMs = Unknown;
        int m_probeCount = 0;
        quint8 m_known = 0; //!< bit 0: enabled is known; bit 1: the probe count is
        bool m_enabled = false;
    };

    // What every notification of the connection touches first, together.
    SocketTransport m_site; //!< the socket and its current connection's native TCP connection
    NotifierInspector m_inspector;
    StallGuard m_guard;
    std::unique_ptr<Rare> m_rare;       //!< see known()
    std::unique_ptr<Watcher> m_watcher; //!< see setWatcher()
    //! Counts connections; queued work checks it is still current (wraps after 2^32).
    quint32 m_connection = 0;
    int m_blockingWaits = 0;      //!< nesting depth of waitFor...() calls
    bool m_deathReported = false; //!< deadPeer() was emitted for the current connection
    bool m_dataOutstandingAtBlockingWait = false;
    bool m_readActivationChecked = false; //!< checkReadActivation() ran for this connection
    bool m_readyReadConnected = false;    //!< to _q_readyRead(), while it has work
    bool m_bytesWrittenConnected = false; //!< to _q_bytesWritten(), while it has work
    bool m_releasedForClose = false;      //!< onClosing() took the user timeout off
    //! A QSslSocket: a connection starts at connected(), not at stateChanged().
    const bool m_startsAtConnected = m_site.socket->inherits("QSslSocket");
    bool m_adopting = false; //!< between adopting() and adopted()
    QtKeepAlive::KeepAliveError m_error = QtKeepAlive::KeepAliveError::NoError;
    QtKeepAlive::DeadPeerReason m_reason = QtKeepAlive::DeadPeerReason::None;
    const SocketSignals &m_signals;
    KeepAliveOptions m_options;       //!< asked for; applied to every connection
    AnnouncedOptions m_lastEffective; //!< last read-back announced by effectiveOptionsChanged()
};

template<typename Socket>
const KeepAliveEngine::SocketSignals KeepAliveEngine::socketSignalsOf = {
        []() -> const SocketSignals::Slots & {
            static const SocketSignals::Slots indexes =
                    SocketSignals::Slots::of(Socket::staticMetaObject);
            return indexes;
        },
        [](QAbstractSocket *s, QAbstractSocket::SocketError error, const QString &message) {
            static_cast<Socket *>(s)->setSocketError(error);
            static_cast<Socket *>(s)->setErrorString(message);
        },
        [](QAbstractSocket *s, const KeepAliveOptions &options) {
            Q_EMIT static_cast<Socket *>(s)->keepAliveOptionsChanged(options);
        },
        [](QAbstractSocket *s, const EffectiveKeepAliveOptions &effective) {
            Q_EMIT static_cast<Socket *>(s)->effectiveKeepAliveOptionsChanged(effective);
        },
        [](QAbstractSocket *s, QtKeepAlive::KeepAliveError error) {
            Q_EMIT static_cast<Socket *>(s)->keepAliveErrorChanged(error);
        },
        [](QAbstractSocket *s, QtKeepAlive::KeepAliveError error) {
            Q_EMIT static_cast<Socket *>(s)->keepAliveErrorOccurred(error);
        },
        [](QAbstractSocket *s, QtKeepAlive::DeadPeerReason reason) {
            Q_EMIT static_cast<Socket *>(s)->deadPeerReasonChanged(reason);
        },
        [](QAbstractSocket *s, QtKeepAlive::DeadPeerReason reason) {
            Q_EMIT static_cast<Socket *>(s)->deadPeer(reason);
        },
};
