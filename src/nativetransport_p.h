// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

// Internal: the native TCP connection a QAbstractSocket rides on. Not installed.

#include <QtCore/QPointer>
#include <QtCore/QSocketNotifier>
#include <QtNetwork/QAbstractSocket>

/*!
    The socket whose Qt engine owns the real TCP descriptor, and that engine.

    For a plain socket that is the socket itself. Behind a SOCKS5 or HTTP
    CONNECT proxy, socketDescriptor() is a per-process counter, not a
    descriptor: the connection lives in the proxy engine's own inner
    QTcpSocket. A QSslSocket keeps it in its inner plain socket. Nothing here
    ever hands out a number that is not an open descriptor of that engine.
*/
class NativeTransport
{
public:
    NativeTransport() = default;

    //! Finds the transport of \a socket's current connection; empty if it has none.
    static NativeTransport find(QAbstractSocket *socket);

    bool isEmpty() const { return !m_engine; }
    QObject *engine() const { return m_engine; }
    //! The socket that owns the engine: the socket itself, or an inner one.
    QAbstractSocket *socket() const { return m_socket; }

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
        return m_engine && object->parent() == m_engine;
    }

private:
    static NativeTransport find(QAbstractSocket *socket, int depth);

    QPointer<QAbstractSocket> m_socket;
    QPointer<QObject> m_engine;
};
