# 插件接口的拒绝原因：安装、操作、任务、面板和路由。插件自己给出的说明原样放在这些消息中。

api-plugins-send-package = 请将插件包（.tar.gz）作为请求内容发送
api-plugins-busy = 插件 `{ $plugin }` { $failure }：请稍后再试
api-plugins-call-failed = 插件 `{ $plugin }` 出错：{ $failure }（在 { $call } 中）
api-plugins-no-action = 插件 `{ $plugin }` 没有操作 `{ $action }`
api-plugins-answer-too-large = 插件 `{ $plugin }` 的应答超过 { $max } 字节
api-plugins-answer-not-json = 插件 `{ $plugin }` 对操作的应答不是 JSON
api-plugins-refused = 插件 `{ $plugin }`：{ $message }
api-plugins-no-failed-delivery = 插件 `{ $plugin }` 没有事件 { $seq } 的失败投递
api-plugins-no-job = 插件 `{ $plugin }` 没有任务 `{ $job }`
api-plugins-no-panel = 插件 `{ $plugin }` 没有面板 `{ $panel }`
api-plugins-record-not-id = record 不是记录 ID
api-plugins-record-required = 记录面板需要提供 record
api-plugins-panel-failed = 插件 `{ $plugin }` 的面板 `{ $panel }` 出错：{ $message }
api-plugins-no-route = 插件 `{ $plugin }` 没有路由 { $method } { $path }
api-plugins-route-status = 插件 `{ $plugin }` 以状态码 { $status } 应答
api-plugins-route-script = 插件 `{ $plugin }` 的路由返回了脚本；路由不得提供 JavaScript
api-plugins-route-off-site = 插件 `{ $plugin }` 重定向到了本服务器以外；路由只能重定向到本服务器上的路径
api-plugins-route-no-location = 插件 `{ $plugin }` 应答了 { $status }，但没有给出跳转地址
api-plugins-not-installed = 插件 `{ $plugin }` 未安装
api-plugins-not-enabled = 插件 `{ $plugin }` 未在此工作区启用
api-plugins-suspended = 插件 `{ $plugin }` 因多次失败已在此工作区暂停：管理员可以查看失败记录并重新启用
api-plugins-not-granted = 插件请求的权限尚未授予
api-plugins-schema = 插件与此工作区的数据结构不兼容
