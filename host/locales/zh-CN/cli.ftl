# 命令行的消息（host/src/cli.rs）。供其他程序读取的输出（令牌、制表符分隔的列表）不翻译。
cli-error = 错误：{ $error }
cli-runtime = 无法启动运行时：{ $error }
cli-data-dir = 无法创建数据目录 { $dir }
cli-migrated = 数据库迁移已完成
cli-index-locked = 无法锁定 { $dir } 中的搜索索引（kith serve 是否正在运行？）
cli-indexed = 已将 { $count } 条记录编入索引，位于 { $dir }
cli-user-created = 已在工作区 `{ $workspace }` 创建用户 { $email }（{ $id }），角色为 { $role }
cli-secret-key = 无法加载密钥
cli-bundled-plugin = 本程序内置的插件
cli-plugin-installed = 已安装 { $id } { $version }
cli-plugin-already-installed = 已经安装：{ $id } { $version }
cli-plugins-current = 所有已安装的插件均基于插件 API { $api } 构建
cli-plugin-outdated = { $id } { $version }：基于插件 API { $api } 构建；当前版本仍可运行，下一个版本将拒绝加载：请用 plugin-sdk { $current } 重新构建
cli-no-workspace = 没有工作区 `{ $workspace }`
cli-set-syntax = --set 的格式是 NAME=VALUE，而不是 `{ $setting }`
cli-plugin-enabled = 已在 `{ $workspace }` 启用 { $id } { $version }，授予：读取 { $read }，写入 { $write }，HTTP { $http }
cli-plugin-disabled = 已在 `{ $workspace }` 停用 { $id }
cli-no-admin = 工作区 `{ $workspace }` 没有管理员：请用 `kith user create --role admin` 创建一个
cli-plugins-folder = 无法读取插件目录 { $dir }
cli-plugin-package = 插件包 { $dir }
cli-plugin-demo-failed = 插件 `{ $id }` 的演示数据：{ $error }
cli-plugin-demo-loaded = 已加载插件 { $id } 的演示数据
cli-demo-admin = 已创建演示管理员 { $email }，密码为 { $password }
cli-running = Kith 正在 http://{ $addr } 上运行（{ $data }；数据位于 { $dir }）
cli-running-token = { $email } 的 API 令牌：{ $token }
cli-running-try = 试试：{ $command }
cli-demo-data-loaded = 已加载演示数据
cli-data-kept = 保留了现有数据
cli-builtins-missing = 缺少内置类型
cli-demo-loaded = 已向 `{ $workspace }` 加载 { $companies } 家公司、{ $contacts } 位联系人和 { $activities } 条活动

# kith import / kith export
cli-no-user = 工作区 { $workspace } 中没有用户 { $email }。
cli-file-unreadable = 无法读取 { $file }。
cli-file-unwritable = 无法写入 { $file }。
cli-mapping-invalid = { $file } 不是映射：应为“列 → 字段”的 JSON 对象，或带有 "mapping" 的导入方案。
cli-import-counts = 新建 { $created }，更新 { $updated }，未变 { $unchanged }，跳过 { $skipped }，失败 { $failed }。
cli-import-problem = 第 { $row } 行：{ $problems }
cli-import-more-problems = ……另有 { $count } 条。
cli-import-resuming = 继续这个文件未完成的导入：从第 { $done } 行（共 { $total } 行）开始。
cli-import-failed-rows = { $count } 行失败；每一行的结果见 { $file }。
cli-import-result = 每一行的结果见 { $file }。
cli-import-stopped = 导入已停止（{ $status }）。
cli-backup-written = 已将 { $tables } 张表的 { $rows } 行备份到 { $file }。
cli-restored = 已从 { $file }（{ $from } 备份）恢复 { $rows } 行；已为搜索索引 { $indexed } 条记录。
