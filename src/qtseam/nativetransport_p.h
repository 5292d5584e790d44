// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

// Internal: the native TCP connection a QAbstractSocket rides on. Not installed.

#include <QtCore/QPointer>
#include <QtCore/QSocketNotifier>
#include <QtNetwork/QAbstractSocket>

#include <memory>

/*!
    Whether Qt still holds bytes that \a socket is to send: in its own write
    buffer, or for a QSslSocket encrypted in its inner socket's
    (QSslSocket::bytesToWrite() counts only what is not encrypted yet).
    Public API only.
*/
bool hasQueuedWrites(const QAbstractSocket *socket);

/*!
    A QSslSocket's own connection: the plain socket it keeps as a child (the
    one a proxy engine, if any, sits in). Null for other sockets and in the
    public-API-only mode.
*/
QAbstractSocket *tlsOwnSocket(QAbstractSocket *socket);

/*!
    The socket whose Qt engine owns the real TCP descriptor, and that engine.

    For a plain socket that is the socket itself. Behind a SOCKS5 or HTTP
    CONNECT proxy, socketDescriptor() is a per-process counter, not a
    descriptor: the connection lives in the proxy engine's own inner
    QTcpSocket. A QSslSocket keeps it in its inner plain socket. Nothing here
    ever hands out a number that is not an open descriptor of that
    connection: a descriptor is used only once its ends are shown to be the
    ones the owning socket reports (KeepAlivePlatform::isConnectionOf()).

    Finding the engine relies on Qt's internals (QtInternals); each step
    checks its assumption. In the public-API-only mode (QtInternals::trusted()
    false) there is no engine: the descriptor is the socket's own
    socketDescriptor(), when it passes the same check.

    A connection the socket itself owns (no proxy, no TLS) is held by plain
    pointers: the socket outlives its engine, and Qt's engine is taken as
    gone once the socket reports it removed (engineRemoved()) or the
    connection ended (ended()), and whenever the socket's socketDescriptor()
    no longer is the connection's (Qt forgets it as it deletes the engine).
    Only an inner socket's connection, which Qt may delete at any time, keeps
    guarded pointers (a QPointer gives its object a reference block of its
    own, 32 bytes for each of thousands of connections).
*/
class NativeTransport
{
public:
    NativeTransport() = default;
    NativeTransport(NativeTransport &&) noexcept = default;
    NativeTransport &operator=(NativeTransport &&) noexcept = default;
    ~NativeTransport();
    Q_DISABLE_COPY(NativeTransport)

    //! Finds the transport of \a socket's current connection; empty if it has none.
    static NativeTransport find(QAbstractSocket *socket);

    //! No native connection was found (or none that is shown to be this connection's).
    bool isEmpty() const { return m_verified == -1; }
    //! Qt's engine; null in the public-API-only mode, and once Qt deleted it.
    QObject *engine() const;
    //! Found through Qt's engine (false: the public-API-only mode, or nothing found).
    bool usesEngine() const { return m_hasEngine; }
    //! The socket that owns the engine: the socket itself, or an inner one (null once deleted).
    QAbstractSocket *socket() const { return m_inner ? m_inner->socket.data() : m_socket; }
    /*!
        The socket that owns the connection was told that Qt removed its
        child \a child (QEvent::ChildRemoved): if that was the engine, the
        connection is gone. Only a pointer comparison.
    */
    void engineRemoved(const QObject *child)
    {
        if (child == m_engine && !m_inner)
            m_engine = nullptr;
    }
    //! The owner's connection ended (Qt deleted its engine, whatever an event filter let through).
    void ended()
    {
        if (!m_inner)
            m_engine = nullptr;
    }
    /*!
        True when \a socket's blocking waits act on this connection: its own,
        or a QSslSocket's own plain socket (its wait reads the TLS records
        there). Behind a proxy, what the connection to the proxy shows is not
        what the socket's wait acts on.
    */
    bool carriesWaitsOf(const QAbstractSocket *socket) const;

    /*!
        The descriptor while the engine holds it open and connected, else -1:
        Qt closes it before errorOccurred() is emitted, and a closed number may
        already belong to another socket.
    */
    qintptr descriptor() const;

    //! The engine's notifier of \a type, if Qt has created it.
    QSocketNotifier *notifier(QSocketNotifier::Type type) const;

    //! Whether \a object is one of the engine's own notifiers.
    bool ownsNotifier(const QObject *object) const { return isEngine(object->parent()); }
    /*!
        Whether \a object (alive) is the engine: a comparison of addresses,
        nothing is read through a pointer that may be stale.
    */
    bool isEngine(const QObject *object) const { return object && object == lastEngine(); }

private:
    //! An inner socket's connection: Qt deletes these objects when it likes.
    struct Inner
    {
        QPointer<QAbstractSocket> socket;
        QPointer<QObject> engine;
    };

    //! The engine as last known, without engine()'s check of the descriptor: compare only.
    QObject *lastEngine() const { return m_inner ? m_inner->engine.data() : m_engine; }
    static NativeTransport find(QAbstractSocket *owner, QAbstractSocket *socket, int depth);
    static NativeTransport verified(QAbstractSocket *owner, QAbstractSocket *socket,
                                    QObject *engine);

    QAbstractSocket *m_socket = nullptr; //!< the owner's own connection (null with m_inner)
    QObject *m_engine = nullptr;         //!< and its engine, while it is the current one
    std::unique_ptr<Inner> m_inner;      //!< set instead for an inner socket's connection
    qintptr m_verified = -1;             //!< the descriptor shown to be this connection's
    bool m_hasEngine = false; //!< found through Qt's engine (its deletion ends the connection)
    //! A QSslSocket's own number (public-API-only mode): checked again at every use.
    bool m_verifyEachUse = false;
};

/*!
    A library socket and the transport of its current connection: what the
    parts of its engine share, through one pointer each.
*/
struct SocketTransport
{
    QAbstractSocket *const socket;
    NativeTransport transport;
};
