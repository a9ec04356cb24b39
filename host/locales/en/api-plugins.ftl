# Refusals of the plugin endpoints: installing, actions, jobs, panels and routes. What a
# plugin itself says is passed on as it wrote it, inside these messages.

api-plugins-send-package = send the plugin package (.tar.gz) as the body
api-plugins-busy = plugin `{ $plugin }` { $failure }: try again in a moment
api-plugins-call-failed = plugin `{ $plugin }` failed: { $failure } (in { $call })
api-plugins-no-action = plugin `{ $plugin }` has no action `{ $action }`
api-plugins-answer-too-large = plugin `{ $plugin }` answered more than { $max } bytes
api-plugins-answer-not-json = plugin `{ $plugin }` answered an action with something other than JSON
api-plugins-refused = plugin `{ $plugin }`: { $message }
api-plugins-no-failed-delivery = plugin `{ $plugin }` has no failed delivery of event { $seq }
api-plugins-no-job = plugin `{ $plugin }` has no job `{ $job }`
api-plugins-no-panel = plugin `{ $plugin }` has no panel `{ $panel }`
api-plugins-record-not-id = record is not a record id
api-plugins-record-required = record is required for a record panel
api-plugins-panel-failed = plugin `{ $plugin }` panel `{ $panel }`: { $message }
api-plugins-no-route = plugin `{ $plugin }` has no route { $method } { $path }
api-plugins-route-status = plugin `{ $plugin }` answered with status { $status }
api-plugins-route-script = plugin `{ $plugin }` answered a route with script; routes may not serve JavaScript
api-plugins-route-off-site = plugin `{ $plugin }` redirected off this server; a route may only redirect to a path on it
api-plugins-route-no-location = plugin `{ $plugin }` answered { $status } without a location
api-plugins-not-installed = plugin `{ $plugin }` is not installed
api-plugins-not-enabled = plugin `{ $plugin }` is not enabled in this workspace
api-plugins-suspended = plugin `{ $plugin }` is suspended in this workspace after repeated failures: an admin can see them and enable it again
api-plugins-not-granted = the plugin asks for permissions that were not granted
api-plugins-schema = the plugin does not fit this workspace's schema
