# API 关于访问及其周边功能的拒绝原因：账号、会话与令牌，用户、角色与团队（auth），
# 邮件与邮箱（mail），Webhook 与出站主机（integrations）。键以 `api-access-` 开头。

## 账号

api-access-unknown-role = 未知角色 `{ $role }`：请使用 admin、manager、member、read_only 或本工作区的自定义角色
api-access-invalid-email = `{ $email }` 不是有效的邮箱地址
api-access-weak-password = 密码至少需要 8 个字符
api-access-invalid-slug = 工作区标识 `{ $slug }` 无效：只能使用小写字母、数字和连字符
api-access-duplicate-user = 工作区 `{ $workspace }` 中已存在邮箱为 { $email } 的用户
api-access-unknown-user = 工作区 `{ $workspace }` 中没有邮箱为 { $email } 的用户
api-access-unknown-workspace = 工作区 `{ $workspace }` 不存在
api-access-no-such-user = 找不到该用户
api-access-invalid-time-zone = `{ $zone }` 不是有效的时区：请使用 IANA 时区名，如 Europe/Berlin 或 America/New_York
api-access-invalid-name = 名称最多 100 个字符，且不能换行
api-access-last-admin = 此操作会使工作区没有可用的管理员：请先将其他人设为管理员
api-access-own-account = 管理员不能停用自己的账号
api-access-deactivated = 该用户已停用：请先重新启用
api-access-already-joined = 该用户已设置密码，无需再邀请

## 登录

api-access-admin-only = 此操作需要管理员角色
api-access-bad-authorization = Authorization 请求头必须为 `Bearer <token>` 格式
api-access-bad-token = 令牌无效、已过期或已被撤销
api-access-session-ended = 会话已过期或已结束：请重新登录
api-access-csrf-failed = X-CSRF-Token 请求头缺失或不正确
api-access-not-logged-in = 请先登录，或发送 `Authorization: Bearer <token>` 请求头
api-access-bad-credentials = 邮箱或密码错误
api-access-too-many-logins = 登录失败次数过多：请稍后再试
api-access-account-deactivated = 该账号已停用：请联系工作区管理员
api-access-wrong-password = 当前密码不正确

## 用户、令牌、角色与团队

# $what 为 `token`、`user` 或 `team`。
api-access-no-such-id =
    没有 ID 为 `{ $id }` 的{ $what ->
        [token] 令牌
        [user] 用户
        [team] 团队
       *[other] { $what }
    }
api-access-bad-language = 请使用 `en`、`zh-CN`，或留空以跟随浏览器语言
api-access-token-name = 令牌名称需为 1 到 100 个字符
api-access-token-days = 有效期需为 1 到 3650 天
api-access-no-such-token = 找不到该令牌
api-access-no-such-workspace = 找不到该工作区
api-access-own-role = 管理员不能更改自己的角色
api-access-role-name-mismatch = 请求体中的名称必须与路径一致
api-access-builtin-role = 内置角色不能重新定义
api-access-not-a-type-name = 不是实体类型名称
api-access-team-name = 团队名称需为 1 到 100 个字符
api-access-team-exists = 已存在同名团队
api-access-no-such-team = 找不到该团队
api-access-no-such-member = 本工作区没有 ID 为 { $id } 的用户

## 邮件

api-access-address-control = 地址不能包含换行符或控制字符
api-access-address-length = 地址需为 1 到 254 个字符
api-access-not-an-address = `{ $address }` 不是邮箱地址
api-access-header-control = 不能包含换行符或控制字符
api-access-too-many-characters = 最多 { $max } 个字符
api-access-mail-not-set-up = 本工作区尚未设置邮件：请管理员先保存 SMTP 设置（PUT /api/v1/admin/mail）
api-access-port = 端口需为 1 到 65535
api-access-smtp-security = 须为 starttls、tls 或 none 之一
api-access-password-too-long = 最多 1,024 字节
api-access-address-count = 需要 { $min } 到 50 个地址
api-access-body-too-large = 最大 1 MiB
api-access-not-a-record-id = 不是记录 ID
api-access-no-reply-to = 本工作区没有这封邮件
api-access-mail-status = status 必须为 queued、sent、failed、receiving 或 received
api-access-mail-direction = direction 必须为 in 或 out
api-access-no-such-message = 找不到该邮件
api-access-no-such-attachment = 找不到该附件
api-access-no-failed-message = 没有此 ID 的发送失败邮件
api-access-raw-message = 请以 message/rfc822 格式发送原始邮件
api-access-not-a-message = 请求体不是 RFC 822 邮件（From、Subject、Date、Message-ID 一项都没有）

## 邮箱

api-access-mailbox-name = 名称需为 1 到 100 个字符
api-access-imap-security = 须为 tls、starttls 或 none 之一
api-access-login-required = 必须填写登录名
api-access-folder-required = 请填写文件夹名称，如 INBOX
api-access-poll-seconds = 轮询间隔需为 10 到 86,400 秒
api-access-password-required = 必须填写登录密码
api-access-too-many-mailboxes = 每个工作区最多轮询 { $max } 个邮箱
api-access-no-such-mailbox = 找不到该邮箱
api-access-mailbox-needs-password = 邮箱必须设置密码
api-access-mailbox-disabled = 该邮箱已停用：请先启用

## 出站主机

api-access-not-a-host = `{ $entry }` 不是主机名或 IP 地址（请去掉协议、端口和路径）
api-access-url-too-long = URL 超过 2,048 个字符
# $error 是 URL 解析器的原话。
api-access-not-a-url = 不是有效的 URL：{ $error }
api-access-url-scheme = URL 必须以 https:// 或 http:// 开头
api-access-url-credentials = URL 中不能包含用户名或密码
api-access-url-no-host = URL 缺少主机
api-access-resolve-timeout = 无法在 { $seconds } 秒内解析 { $host }
# $error 是解析器的原话。
api-access-resolve-failed = 无法解析 { $host }：{ $error }
api-access-no-address = { $host } 没有任何地址
api-access-private-host = { $host } 是私有地址（{ $address }）；需要管理员先允许该主机（PUT /api/v1/admin/outbound-hosts）
api-access-too-many-hosts = 最多 { $max } 个主机

## Webhook

api-access-no-events = 请至少指定一个事件类型，如 `contact.created` 或 `*`
api-access-too-many-events = 最多 { $max } 个事件类型
api-access-not-an-event = `{ $event }` 不是事件类型：请写成 `<type>.<action>`（如 `contact.created`）或 `*`
api-access-not-an-entity-type = `{ $entity }` 不是本工作区的实体类型
api-access-not-an-action = `{ $action }` 不是有效的操作；须为 { $actions } 或 * 之一
api-access-no-such-webhook = 找不到该 Webhook
api-access-too-many-webhooks = 每个工作区最多 { $max } 个 Webhook
api-access-delivery-status = status 必须为 pending、delivered 或 failed
api-access-delivery-before = before 必须是日志中的某个 event_seq
api-access-no-such-delivery = 找不到该投递记录
