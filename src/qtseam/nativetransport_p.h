// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

// Internal: the native TCP connection a QAbstractSocket rides on. Not installed.

#include <QtCore/QPointer>
#include <QtCore/QSocketNotifier>
#include <QtNetwork/QAbstractSocket>

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
*/
class NativeTransport
{
public:
    NativeTransport() = default;

    //! Finds the transport of \a socket's current connection; empty if it has none.
    static NativeTransport find(QAbstractSocket *socket);

    //! No native connection was found (or none that is shown to be this connection's).
    bool isEmpty() const { return m_verified == -1; }
    //! Qt's engine; null in the public-API-only mode, and once Qt deleted it.
    QObject *engine() const { return m_engine; }
    //! Found through Qt's engine (false: the public-API-only mode, or nothing found).
    bool usesEngine() const { return m_hasEngine; }
    //! The socket that owns the engine: the socket itself, or an inner one.
    QAbstractSocket *socket() const { return m_socket; }
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
    bool ownsNotifier(const QObject *object) const
    {
        const QObject *engine = m_engine.data();
        return engine && object->parent() == engine;
    }

private:
    static NativeTransport find(QAbstractSocket *socket, int depth);
    static NativeTransport verified(QAbstractSocket *socket, QObject *engine);

    QPointer<QAbstractSocket> m_socket;
    QPointer<QObject> m_engine;
    qintptr m_verified = -1;  //!< the descriptor shown to be this connection's
    bool m_hasEngine = false; //!< found through Qt's engine (its deletion ends the connection)
    //! A QSslSocket's own number (public-API-only mode): checked again at every use.
    bool m_verifyEachUse = false;
};
