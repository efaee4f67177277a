package graphsim

import "net/http"

// subscriptionAdmin adds the admin API's subscription routes (simulators/README.md).
func (s *Server) subscriptionAdmin(mux *http.ServeMux) {
	mux.HandleFunc("GET /subscriptions", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.Subscriptions()) })
	mux.HandleFunc("POST /subscriptions/{id}/lifecycle", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Event string `json:"event"`
		}
		if !decode(w, r, &in) {
			return
		}
		if err := s.Lifecycle(r.PathValue("id"), in.Event); err != nil {
			adminError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("DELETE /subscriptions/{id}", func(w http.ResponseWriter, r *http.Request) {
		if err := s.DeleteSubscription(r.PathValue("id")); err != nil {
			adminError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /notifications/stats", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.NotifyStats()) })
	mux.HandleFunc("POST /notifications/flush", func(w http.ResponseWriter, r *http.Request) {
		s.FlushNotifications()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /notification-faults", func(w http.ResponseWriter, r *http.Request) {
		var f NotifyFault
		if !decode(w, r, &f) {
			return
		}
		id, err := s.AddNotifyFault(f)
		if err != nil {
			adminError(w, errBadRequest(err.Error()))
			return
		}
		writeJSON(w, http.StatusCreated, map[string]int{"id": id})
	})
	mux.HandleFunc("DELETE /notification-faults", func(w http.ResponseWriter, r *http.Request) {
		s.ClearNotifyFaults()
		w.WriteHeader(http.StatusNoContent)
	})
}
