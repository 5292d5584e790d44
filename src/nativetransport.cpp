// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#include "nativetransport_p.h"

namespace {

// A proxy engine's socket inside a proxied socket: Qt never nests deeper.
constexpr int MaximumDepth = 4;

// The inner socket of a proxy engine (QSocks5SocketEngine, QHttpSocketEngine)
// or of a QSslSocket: one of its direct children. Only these owners are
// searched, never other children the application gave the socket.
QAbstractSocket *innerSocket(const QObject *owner)
{
    for (QObject *child : owner->children()) {
        if (auto *inner = qobject_cast<QAbstractSocket *>(child))
            return inner;
    }
    return nullptr;
}

} // namespace

NativeTransport NativeTransport::find(QAbstractSocket *socket)
{
    return find(socket, 0);
}

NativeTransport NativeTransport::find(QAbstractSocket *socket, int depth)
{
    if (!socket || depth > MaximumDepth)
        return {};
    QAbstractSocket *inner = nullptr;
    for (QObject *child : socket->children()) {
        if (child->inherits("QNativeSocketEngine")) {
            NativeTransport transport;
            transport.m_socket = socket;
            transport.m_engine = child;
            return transport;
        }
        if (!inner && child->inherits("QAbstractSocketEngine"))
            inner = innerSocket(child);
    }
    if (!inner && socket->inherits("QSslSocket"))
        inner = innerSocket(socket);
    return inner ? find(inner, depth + 1) : NativeTransport();
}

qintptr NativeTransport::descriptor() const
{
    // The engine pointer going null means Qt deleted it (resetSocketLayer());
    // isValid() asks the engine itself whether its descriptor is still open.
    if (!m_engine || !m_socket || !m_socket->isValid())
        return -1;
    const auto state = m_socket->state();
    if (state != QAbstractSocket::ConnectedState && state != QAbstractSocket::ClosingState)
        return -1;
    return m_socket->socketDescriptor();
}

QSocketNotifier *NativeTransport::notifier(QSocketNotifier::Type type) const
{
    if (!m_engine)
        return nullptr;
    for (QObject *child : m_engine->children()) {
        auto *notifier = qobject_cast<QSocketNotifier *>(child);
        if (notifier && notifier->type() == type)
            return notifier;
    }
    return nullptr;
}
