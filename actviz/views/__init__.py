"""Views: each page's state (a declarative field table shared by its link, its widgets and its validation)
and everything the page shows, computed without a UI.  Pages and the CLI import views; nothing in the
layers below does.
"""
