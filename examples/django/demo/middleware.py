import os


def instance_header(get_response):
    """X-Instance: which instance answered (INSTANCE_NAME), for the multi-instance test."""
    name = os.environ.get("INSTANCE_NAME", "")

    def middleware(request):
        response = get_response(request)
        if name:
            response["X-Instance"] = name
        return response

    return middleware
