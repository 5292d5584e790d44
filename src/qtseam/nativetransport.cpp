// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#include "nativetransport_p.h"

#include "keepaliveplatform_p.h"
#include "qtinternals_p.h"

#include <QtNetwork/QHostAddress>
#if QT_CONFIG(ssl)
#  include <QtNetwork/QSslSocket>
#endif

using QtInternals::Assumption;

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

QString describeSocket(const QAbstractSocket *socket)
{
    return QStringLiteral("%1 connected to %2:%3")
            .arg(QLatin1String(socket->metaObject()->className()), socket->peerAddress().toString())
            .arg(socket->peerPort());
}

} // namespace

bool hasQueuedWrites(const QAbstractSocket *socket)
{
    if (socket->bytesToWrite() > 0)
        return true;
#if QT_CONFIG(ssl)
    if (const auto *tls = qobject_cast<const QSslSocket *>(socket))
        return tls->encryptedBytesToWrite() > 0;
#endif
    return false;
}

QAbstractSocket *tlsOwnSocket(QAbstractSocket *socket)
{
    if (!QtInternals::trusted() || !socket->inherits("QSslSocket"))
        return nullptr;
    return innerSocket(socket);
}

NativeTransport::~NativeTransport() = default;

QObject *NativeTransport::engine() const
{
    if (m_inner)
        return m_inner->socket ? m_inner->engine.data() : nullptr;
    // Qt sets the owner's descriptor to -1 as it deletes the engine.
    return m_engine && m_socket->socketDescriptor() == m_verified ? m_engine : nullptr;
}

bool NativeTransport::carriesWaitsOf(const QAbstractSocket *socket) const
{
    const QAbstractSocket *own = this->socket();
    return own == socket || (own && own->parent() == socket && socket->inherits("QSslSocket"));
}

NativeTransport NativeTransport::find(QAbstractSocket *socket)
{
    if (!socket || socket->state() != QAbstractSocket::ConnectedState)
        return {};
    if (QtInternals::trusted()) {
        NativeTransport found = find(socket, socket, 0);
        if (!found.isEmpty())
            return found;
    }
    // The public-API-only mode, a check that just failed, or nothing found
    // (a proxy engine the application provides, a descriptor that is not a
    // TCP connection): the socket's own descriptor, if it is this connection.
    return verified(socket, socket, nullptr);
}

NativeTransport NativeTransport::verified(QAbstractSocket *owner, QAbstractSocket *socket,
                                          QObject *engine)
{
    const qintptr descriptor = socket->socketDescriptor();
    if (!KeepAlivePlatform::isConnectionOf(descriptor, socket))
        return {};
    NativeTransport transport;
    if (socket == owner) {
        transport.m_socket = socket;
        transport.m_engine = engine;
    } else {
        transport.m_inner.reset(new Inner{socket, engine});
    }
    transport.m_hasEngine = engine != nullptr;
    transport.m_verified = descriptor;
    // A QSslSocket reports its inner connection's number until its own
    // disconnected(), also after the inner socket has closed it (while the
    // death is being reported): nothing public tells, the ends do.
    transport.m_verifyEachUse = !engine && socket->inherits("QSslSocket");
    return transport;
}

NativeTransport NativeTransport::find(QAbstractSocket *owner, QAbstractSocket *socket, int depth)
{
    if (!socket || depth > MaximumDepth)
        return {};
    if (socket->inherits("QSslSocket")) {
        if (QAbstractSocket *plain = innerSocket(socket))
            return find(owner, plain, depth + 1);
        QtInternals::broken(
                Assumption::SslPlainSocket,
                QStringLiteral("no child QTcpSocket in a %1").arg(describeSocket(socket)));
        return {};
    }
    QObject *proxyEngine = nullptr;
    for (QObject *child : socket->children()) {
        if (child->inherits("QNativeSocketEngine"))
            return verified(owner, socket, child);
        if (!proxyEngine && child->inherits("QAbstractSocketEngine"))
            proxyEngine = child;
    }
    if (proxyEngine) {
        if (QAbstractSocket *inner = innerSocket(proxyEngine))
            return find(owner, inner, depth + 1);
        if (proxyEngine->inherits("QSocks5SocketEngine")
            || proxyEngine->inherits("QHttpSocketEngine"))
            QtInternals::broken(Assumption::ProxyInnerSocket,
                                QStringLiteral("%1 has no child QTcpSocket in a %2")
                                        .arg(QLatin1String(proxyEngine->metaObject()->className()),
                                             describeSocket(socket)));
        // Otherwise an engine the application provides: no native connection.
        return {};
    }
    // No engine at all, yet the socket's own descriptor is its connection.
    if (KeepAlivePlatform::isConnectionOf(socket->socketDescriptor(), socket))
        QtInternals::broken(Assumption::NativeEngineChild,
                            QStringLiteral("no child inherits QNativeSocketEngine or "
                                           "QAbstractSocketEngine in a %1")
                                    .arg(describeSocket(socket)));
    return {};
}

qintptr NativeTransport::descriptor() const
{
    // No engine means Qt deleted it (resetSocketLayer()); isValid() asks the
    // engine itself whether its descriptor is still open. (The descriptor is
    // compared below: lastEngine() need not.)
    const QAbstractSocket *socket = this->socket();
    if (m_verified == -1 || !socket || (m_hasEngine && !lastEngine()) || !socket->isValid())
        return -1;
    const auto state = socket->state();
    if (state != QAbstractSocket::ConnectedState && state != QAbstractSocket::ClosingState)
        return -1;
    // Qt replaced the connection (a new setSocketDescriptor() on the owner).
    if (socket->socketDescriptor() != m_verified)
        return -1;
    if (m_verifyEachUse && !KeepAlivePlatform::isConnectionOf(m_verified, socket))
        return -1;
    return m_verified;
}

QSocketNotifier *NativeTransport::notifier(QSocketNotifier::Type type) const
{
    const QObject *engine = this->engine();
    if (!engine)
        return nullptr;
    for (QObject *child : engine->children()) {
        auto *notifier = qobject_cast<QSocketNotifier *>(child);
        if (notifier && notifier->type() == type)
            return notifier;
    }
    return nullptr;
}
