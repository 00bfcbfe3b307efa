"""Every attack AIM is known to resist, each shown to fail: the regression suite of the security
review of the foundation (issue 9). Read this folder to see what AIM holds against."""
