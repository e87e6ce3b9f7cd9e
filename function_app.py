"""The Functions app: it only registers the blueprints of functions/ (and sets the libraries' log levels)."""

import azure.functions as func

from functions.actions import bp as actions_bp
from functions.export import bp as export_bp
from functions.fanout import bp as fanout_bp
from functions.jobs import bp as jobs_bp
from functions.webhooks import bp as webhooks_bp
from shared.app_logging import quiet_library_loggers

# The worker forwards every Python record at INFO and above to Application Insights; see shared/app_logging.py.
quiet_library_loggers()

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(export_bp)
app.register_functions(fanout_bp)
app.register_functions(actions_bp)
app.register_functions(jobs_bp)
app.register_functions(webhooks_bp)
