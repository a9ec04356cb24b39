# API 的错误消息（`{"error": {"message"}}`），以及网页应用据此显示的拒绝原因。
# 键以 `api-` 开头；服务器的每个部分有自己的文件（`api-<area>.ftl`）。

api-invalid-field = { $field }：{ $message }
api-invalid-fields = 有 { $count } 个字段无效
api-internal = 服务器内部错误
api-unknown-entity = 未知的实体类型 `{ $name }`
api-record-not-found = 找不到该记录
api-version-conflict = 记录已被修改：当前版本为 { $current }
api-invalid-cursor = 游标格式错误，或属于另一个查询
api-batch-too-large = 一批最多 { $max } 条记录
api-plugin-failed = 插件 `{ $plugin }` 出错：{ $message }
api-plugin-suspended = 插件 `{ $plugin }` 负责检查这些写入，但因多次失败已被暂停；没有保存任何内容。管理员可以重新启用或停用它
api-no-route = 没有路由 { $path }
api-method-not-allowed = { $path } 不允许 { $method } 方法
